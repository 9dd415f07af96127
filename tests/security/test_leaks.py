"""Leaks and parity: what one tenant can learn about another, and `gateway serve` vs `up`.

* list_nodes/get_node show a tenant only its own namespaces;
* a get/wait/stop on another tenant's entity answers byte for byte like one on an id that does
  not exist (so ids cannot be probed), and changes nothing;
* `controlroom gateway serve` records provenance and serves the prov_* tools like `controlroom up`,
  with the client's self-reported name marked as claimed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_gateway.calls import ROUTE_META
from mcp_gateway.models import CallRecord
from tests.mcp_gateway.conftest import ROOT, NodeProcess, gateway, spawn, spawn_in  # noqa: F401 - fixtures

PROV_TOOLS = {"prov_timeline", "prov_lineage", "prov_agent_activity", "prov_export", "prov_verify"}


def client(url: str, token: str) -> Client:
    return Client(StreamableHttpTransport(url, auth=token))


class Records:
    """The gateway's call records (a `CallObserver`)."""

    def __init__(self) -> None:
        self.items: list[CallRecord] = []

    async def on_call(self, record: CallRecord) -> None:
        self.items.append(record)


def text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def test_list_nodes_shows_a_tenant_only_its_namespaces(gateway, spawn) -> None:  # noqa: F811
    await spawn("n1", ["a", "b"])
    await spawn("n2", ["b"])
    alice = await gateway.token("alice", ["a"])
    admin = await gateway.token("root", ["*"], scopes=["read", "admin"])
    async with client(gateway.mcp_url, alice) as c:
        listed = (await c.call_tool("list_nodes", {})).structured_content
        seen = {node["name"]: node["namespaces"] for node in listed["items"]}
        assert seen == {"n1": ["a"], "n2": []}  # every node listed (routing), no foreign namespace named
        assert (await c.call_tool("get_node", {"name": "n2"})).structured_content["namespaces"] == []
    async with client(gateway.mcp_url, admin) as c:
        listed = (await c.call_tool("list_nodes", {})).structured_content
        assert {node["name"]: sorted(node["namespaces"]) for node in listed["items"]} == {"n1": ["a", "b"], "n2": ["b"]}


async def test_a_foreign_entity_answers_exactly_like_an_unknown_one(gateway, spawn) -> None:  # noqa: F811
    await spawn("n1", ["a"])
    await spawn("n2", ["b"])
    records = Records()
    gateway.gateway.add_observer(records)
    alice = await gateway.token("alice", ["a"])
    bob = await gateway.token("bob", ["b"])
    async with client(gateway.mcp_url, bob) as c:
        created = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "b"})
    foreign = created.structured_content["execution_id"]
    unknown = foreign.rsplit("-", 1)[0] + "-9999"  # same shape, never issued
    gateway.gateway.router.owners.clear()  # alice's answers must not depend on what bob's calls taught
    async with client(gateway.mcp_url, alice) as c:
        for tool, extra in [("get_workflow_execution", {}), ("wait_for_execution", {"timeout_s": 1}),
                            ("stop_workflow", {}), ("get_workflow_execution", {"node": "n2"}),
                            ("stop_workflow", {"node": "n2"})]:
            on_foreign = await c.call_tool(tool, {"execution_id": foreign, **extra}, raise_on_error=False)
            on_unknown = await c.call_tool(tool, {"execution_id": unknown, **extra}, raise_on_error=False)
            assert on_foreign.is_error and on_unknown.is_error, tool
            assert text(on_foreign).replace(foreign, "ID") == text(on_unknown).replace(unknown, "ID"), tool
            assert foreign in text(on_foreign) and "'b'" not in text(on_foreign) and "grant" not in text(on_foreign)
            assert ROUTE_META not in (on_foreign.meta or {})  # refused at the gateway: no node saw it
        # naming a namespace that is not granted may say so: the caller named it
        named = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "b"}, raise_on_error=False)
        assert named.is_error and "not granted" in text(named)
    assert all(r.node is None for r in records.items if r.user == "alice")
    async with client(gateway.mcp_url, bob) as c:  # nothing alice sent changed bob's execution
        still = await c.call_tool("get_workflow_execution", {"execution_id": foreign})
        assert still.structured_content["status"] == "running"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`controlroom gateway serve` in a child process on a free port; yields (base URL, state dir)."""
    state = tmp_path / "gw"
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_gateway.cli", "gateway", "serve", "--port", "0", "--state-dir", str(state)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        assert line.startswith("gateway ready at "), line + process.stdout.read() if process.poll() is not None else line
        yield line.split()[-1].removesuffix("/mcp"), state
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def token_cli(state: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mcp_gateway.cli", "token", "create", "--state-dir", str(state),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


async def test_gateway_serve_records_provenance_and_serves_the_prov_tools(served) -> None:
    url, state = served
    node_token = await anyio.to_thread.run_sync(lambda: token_cli(state, "--user", "n1", "--node", "--namespaces", "a"))
    alice = await anyio.to_thread.run_sync(lambda: token_cli(state, "--user", "alice", "--namespaces", "a"))
    blind = await anyio.to_thread.run_sync(lambda: token_cli(state, "--user", "blind", "--namespaces", "a",
                                                             "--scopes", "operate"))
    node = await NodeProcess("n1", url, node_token, ["a"]).start()
    try:
        async with Client(StreamableHttpTransport(url + "/mcp", auth=alice),
                          client_info=_client_info("made-up-client", "6.6.6")) as c:
            tools = {tool.name for tool in await c.list_tools()}
            assert PROV_TOOLS <= tools
            with anyio.fail_after(30):
                while "noop" not in {tool.name for tool in await c.list_tools()}:
                    await anyio.sleep(0.1)
            await c.call_tool("noop", {})
            with anyio.fail_after(30):  # the writer flushes every 0.2 s
                while True:
                    page = (await c.call_tool("prov_timeline", {"scope": "principal:alice"})).structured_content
                    calls = [e for item in page["items"] for e in item["elements"] if e.get("class", e.get("cls")) == "AgentTool"]
                    if calls:
                        break
                    await anyio.sleep(0.2)
        async with Client(StreamableHttpTransport(url + "/mcp", auth=blind)) as c:  # the prov tools need read
            refused = await c.call_tool("prov_timeline", {"scope": "all"}, raise_on_error=False)
            assert refused.is_error and "needs the 'read' scope" in text(refused)
        (call,) = calls
        assert call["attrs"]["tool"] == "noop" and call["attrs"]["client_claimed"] is True
        agents = [e for item in page["items"] for e in item["elements"] if e.get("class", e.get("cls")) == "AIAgent"]
        assert [a["attrs"].get("name") for a in agents] == ["made-up-client"]  # recorded, but marked claimed
    finally:
        node.kill()


def _client_info(name: str, version: str) -> Any:
    from mcp.types import Implementation

    return Implementation(name=name, version=version)


async def test_another_principals_approval_answers_like_an_unknown_one(tmp_path: Path) -> None:
    """A pending fix is an entity too: a tenant who learns its approval_id cannot tell it exists."""
    from tests.support.up import start_up, stop_up

    policy = tmp_path / "policy.toml"
    policy.write_text('[default]\nagent = "ASK"\n')
    process, up = await anyio.to_thread.run_sync(lambda: start_up(tmp_path / "state", "--policy", str(policy)))
    try:
        erin = await anyio.to_thread.run_sync(lambda: token_cli(Path(up["state_dir"]), "--user", "erin",
                                                                "--namespaces", "erin"))
        async with client(up["url"], up["token"]) as admin:  # the admin's own debugging session
            status = (await admin.call_tool("start_testbed", {"namespace": "erin"})).structured_content
            victim = next(a["name"] for a in status["agents"] if a["agent_type"] == "fastmon")
            await admin.call_tool("kill_agent", {"name": victim, "reason": "failure injection"})
            report = (await admin.call_tool("debug_execution", {"namespace": "erin"})).structured_content
            assert report["outcome"] == "awaiting_approval"
        approval = report["approval_id"]
        async with client(up["url"], erin) as c:
            assert (await c.call_tool("list_pending_fixes", {})).structured_content == {"items": [], "total": 0}
            theirs = await c.call_tool("approve_fix", {"approval_id": approval}, raise_on_error=False)
            unknown = await c.call_tool("approve_fix", {"approval_id": "0" * len(approval)}, raise_on_error=False)
            assert theirs.is_error and unknown.is_error
            assert text(theirs).replace(approval, "ID") == text(unknown).replace("0" * len(approval), "ID")
            assert (await c.call_tool("get_agent", {"name": victim})).structured_content["status"] == "EXITED"
    finally:
        await anyio.to_thread.run_sync(lambda: stop_up(process))
