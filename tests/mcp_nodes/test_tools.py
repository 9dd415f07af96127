"""Every node tool through fastmcp.Client over HTTP against a live in-process testbed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from fastmcp import Client

from mcp_nodes.contract.identity import Identity, SigningKey, lookup_identity
from tests.mcp_nodes.conftest import LiveNode
from tests.support.identity import identity_token

NS = "alice"


async def call(client: Client, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, f"{tool}({args}): {result.content[0].text if result.content else result}"
    return result.structured_content


async def error_of(client: Client, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"{tool}({args}) was accepted: {result.structured_content}"
    return result.content[0].text


async def wait_ready(client: Client, namespace: str, timeout: float = 15.0) -> dict[str, Any]:
    """Poll get_testbed_status (no event crosses MCP for readiness; bounded, 50 ms steps)."""
    deadline = time.monotonic() + timeout
    while True:
        status = await call(client, "get_testbed_status", namespace=namespace)
        if status["ready"]:
            return status
        assert time.monotonic() < deadline, f"testbed {namespace} not ready: {status}"
        await asyncio.sleep(0.05)


async def test_every_tool_over_http(live_node: LiveNode) -> None:
    async with live_node.client() as client:
        tools = {t.name: t for t in await client.list_tools()}
        expected = {
            "start_testbed", "stop_testbed", "get_testbed_status", "start_workflow", "stop_workflow",
            "wait_for_execution", "list_workflow_definitions", "list_workflow_executions",
            "get_workflow_execution", "get_workflow_monitor", "list_agents", "get_agent", "restart_agent",
            "kill_agent", "list_messages", "send_message", "list_runs", "get_run", "list_stf_files",
            "get_stf_file", "list_tf_slices", "get_tf_slice", "list_logs", "get_log_entry",
            "list_namespaces", "get_namespace", "get_system_state", "prune",
        }
        assert expected <= set(tools)
        for name, tool in tools.items():
            assert tool.description and 20 < len(tool.description) <= 300, name  # said, and short (issue 12)
            assert tool.annotations is not None and tool.annotations.read_only_hint is not None, name
            assert tool.output_schema is not None, name
        assert tools["prune"].annotations.destructive_hint is True
        assert tools["list_logs"].annotations.read_only_hint is True

        state = await call(client, "get_system_state")
        assert state["testbeds"] == [] and "start_testbed" in state["hint"]

        first = await call(client, "start_testbed", namespace=NS, reason="tool test")
        again = await call(client, "start_testbed", namespace=NS)
        assert again["already_running"] is True
        assert first["namespace"] == NS
        ready = await wait_ready(client, NS)
        assert ready["ready"] is True

        definitions = await call(client, "list_workflow_definitions")
        stf = next(d for d in definitions["items"] if d["name"] == "stf_datataking")
        assert "stf_count" in str(stf["parameter_schema"])

        execution = await call(client, "start_workflow", namespace=NS, parameters={"stf_count": 3},
                               reason="run three STFs")
        execution_id = execution["execution_id"]
        assert execution["executed_by"] == "node:test-node" and execution["reason"] == "run three STFs"

        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        waited = await client.call_tool("wait_for_execution", {"execution_id": execution_id, "timeout_s": 60},
                                        progress_handler=on_progress, raise_on_error=False)
        assert not waited.is_error, waited.content
        assert waited.structured_content["finished"] is True
        assert waited.structured_content["execution"]["status"] == "completed"
        assert progress, "no progress notification arrived"

        record = await call(client, "get_workflow_execution", execution_id=execution_id)
        assert record["status"] == "completed" and record["stf_count"] == 3
        monitor = await call(client, "get_workflow_monitor", execution_id=execution_id)
        assert monitor["status"] == "completed"
        listed = await call(client, "list_workflow_executions", namespace=NS)
        assert listed["total"] == 1 and listed["items"][0]["execution_id"] == execution_id
        assert (await call(client, "list_workflow_executions", status="running"))["total"] == 0

        runs = await call(client, "list_runs", execution_id=execution_id)
        assert runs["total"] == 1
        run = await call(client, "get_run", run_number=runs["items"][0]["run_number"])
        assert run["status"] == "ended" and run["total_stf_files"] == 3
        stfs = await call(client, "list_stf_files", execution_id=execution_id)
        assert stfs["total"] == 3
        stf_file = await call(client, "get_stf_file", filename=stfs["items"][0]["filename"])
        assert stf_file["execution_id"] == execution_id
        slices = await call(client, "list_tf_slices", execution_id=execution_id, limit=5)
        assert slices["total"] > 0 and len(slices["items"]) <= 5
        one = slices["items"][0]
        got = await call(client, "get_tf_slice", tf_filename=one["tf_filename"], slice_id=one["slice_id"])
        # list rows are lean (issue 12: no id, bounds, times or result); get_tf_slice has them all
        assert (got["tf_filename"], got["slice_id"], got["status"]) == (one["tf_filename"], one["slice_id"], one["status"])
        assert "result" in got and "result" not in one

        messages = await call(client, "list_messages", execution_id=execution_id, msg_type="stf_gen")
        assert messages["total"] == 3
        sent = await call(client, "send_message", namespace=NS, msg_type="status_request", body={"x": 1})
        assert sent["destination"].endswith(f".{NS}.testbed_control")

        agents = await call(client, "list_agents", namespace=NS)
        assert agents["total"] >= 5 and len(agents["items"]) <= 20  # a model-sized default page (issue 12)
        agents = await call(client, "list_agents", namespace=NS, agent_type="processing")
        worker = next(a for a in agents["items"] if a["agent_type"] == "processing")
        assert (await call(client, "get_agent", name=worker["name"]))["name"] == worker["name"]
        restarted = await call(client, "restart_agent", name=worker["name"], reason="test restart")
        assert restarted["name"] == worker["name"]
        killed = await call(client, "kill_agent", name=worker["name"], reason="test kill")
        assert killed["status"] == "EXITED"
        assert (await call(client, "get_testbed_status", namespace=NS))["ready"] is False  # it stays down
        await call(client, "restart_agent", name=worker["name"], reason="bring it back")
        await wait_ready(client, NS)

        logs = await call(client, "list_logs", namespace=NS, limit=10)
        assert logs["items"], "agents wrote no logs"
        entry = await call(client, "get_log_entry", log_id=logs["items"][0]["id"])
        assert entry["id"] == logs["items"][0]["id"]
        levels = await call(client, "list_logs", level="ERROR")
        assert all(item["level"] >= 40 for item in levels["items"])

        assert NS in [n["name"] for n in (await call(client, "list_namespaces"))["items"]]
        assert (await call(client, "get_namespace", name=NS))["name"] == NS

        # a small pool: this run only has to be stopped (30 in-process workers stopping at once
        # contend for SQLite's write lock; see the closing note of the session that found it)
        long_run = await call(client, "start_workflow", namespace=NS, realtime=True,
                              parameters={"stf_count": 50, "target_worker_count": 3, "max_worker_count": 3})
        stopped = await call(client, "stop_workflow", execution_id=long_run["execution_id"], reason="enough")
        assert stopped["status"] in ("terminated", "completed")
        final = await call(client, "wait_for_execution", execution_id=long_run["execution_id"], timeout_s=30)
        assert final["execution"]["status"] == "terminated"

        pruned = await call(client, "prune", older_than=(datetime.now(UTC) - timedelta(days=1)).isoformat())
        assert all(v == 0 for v in pruned["deleted"].values())
        assert "older_than" in await error_of(client, "prune",
                                              older_than=(datetime.now(UTC) + timedelta(days=1)).isoformat())

        assert "no execution" in await error_of(client, "get_workflow_execution", execution_id="nope-x-0001")
        assert "start_testbed" in await error_of(client, "start_workflow", namespace="nobody")

        state = await call(client, "get_system_state")
        assert [t["namespace"] for t in state["testbeds"]] == [NS]
        stopped_tb = await call(client, "stop_testbed", namespace=NS, reason="done")
        assert stopped_tb["ready"] is False


async def test_identity_grants_are_enforced(live_node: LiveNode) -> None:
    async with live_node.client() as admin:
        await call(admin, "start_testbed", namespace=NS)
        await wait_ready(admin, NS)
        execution = await call(admin, "start_workflow", namespace=NS, parameters={"stf_count": 1})
        await call(admin, "wait_for_execution", execution_id=execution["execution_id"], timeout_s=30)

    node = live_node.runtime.settings.name
    bob = identity_token(node, Identity(user="bob", namespaces=["bob"], scopes=["read", "operate"], request_id="r1"))
    async with live_node.client(token=bob) as client:
        # an execution outside bob's grants answers exactly like one that does not exist
        foreign = await error_of(client, "get_workflow_execution", execution_id=execution["execution_id"])
        assert foreign == f"no execution with id {execution['execution_id']!r}", foreign
        for tool, args in [("stop_testbed", {"namespace": NS}),
                           ("start_workflow", {"namespace": NS}),
                           ("list_logs", {"namespace": NS})]:
            message = await error_of(client, tool, **args)
            assert "not granted" in message and "bob" in message, message
        mine = await call(client, "list_workflow_executions")
        assert mine["total"] == 0
        await call(client, "start_testbed", namespace="bob")
        status = await call(client, "get_testbed_status", namespace="bob")
        assert status["namespace"] == "bob"
        record = await call(client, "start_workflow", namespace="bob", parameters={"stf_count": 1})
        assert record["executed_by"] == "bob"

    forged = identity_token(node, Identity(user="mallory", namespaces=["*"], scopes=["admin"]), key=SigningKey.generate())
    elsewhere = identity_token("other-node", Identity(user="bob", namespaces=["bob"], scopes=["read", "operate"]))
    lookup = identity_token(node, lookup_identity())
    async with httpx2.AsyncClient() as http:
        for token in (None, "wrong", forged, elsewhere, lookup):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = await http.post(live_node.url, headers=headers,
                                       json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert response.status_code == 401
        health = await http.get(live_node.url.removesuffix("/mcp") + "/healthz")
        assert health.status_code == 200
        owner_url = live_node.url.removesuffix("/mcp") + f"/entities/execution/{execution['execution_id']}"
        as_bob = await http.get(owner_url, headers={"Authorization": f"Bearer {bob}"})
        assert as_bob.status_code == 401 and "namespace" not in as_bob.json()  # a caller cannot probe owners
        owner = await http.get(owner_url, headers={"Authorization": f"Bearer {lookup}"})
        assert owner.json()["namespace"] == NS
        missing = await http.get(live_node.url.removesuffix("/mcp") + "/entities/execution/none",
                                 headers={"Authorization": f"Bearer {lookup}"})
        assert missing.status_code == 404
