"""get_execution_timeline on a live in-process node: sources merged, metrics, paging, size, access."""

from __future__ import annotations

import json
from typing import Any

from tests.mcp_nodes.conftest import LiveNode
from tests.mcp_nodes.test_tools import call, error_of, wait_ready
from mcp_nodes.contract.identity import Identity
from tests.support.identity import identity_token


async def test_timeline_merges_the_execution_its_events_and_an_operator_kill(live_node: LiveNode) -> None:
    async with live_node.client() as client:
        await call(client, "start_testbed", namespace="tl")
        status = await wait_ready(client, "tl")
        started = await call(client, "start_workflow", namespace="tl", parameters={"stf_count": 3}, reason="calibration run")
        execution_id = started["execution_id"]
        await call(client, "wait_for_execution", execution_id=execution_id, timeout_s=60)
        victim = next(a["name"] for a in status["agents"] if a["agent_type"] == "fastmon")
        await call(client, "kill_agent", name=victim, reason="swap the fastmon host")

        timeline: dict[str, Any] = await call(client, "get_execution_timeline", execution_id=execution_id)
        assert len(json.dumps(timeline)) <= 6000
        ids = [e["id"] for e in timeline["entries"]]
        start = timeline["entries"][ids.index("x-start")]
        assert "calibration run" in start["summary"] and start["actor"] == started["executed_by"]
        assert any(e["source"] == "daq" for e in timeline["entries"])
        assert [e["t"] for e in timeline["entries"]] == sorted(e["t"] for e in timeline["entries"])
        metrics = timeline["metrics"]
        assert metrics["stf_count"] == 3 and metrics["phase_s"] and metrics["duration_s"] > 0
        assert metrics["slices"].get("done", 0) > 0

        testbed = await call(client, "get_execution_timeline", namespace="tl", limit=200, budget_chars=50_000)
        texts = [f"{e['id']} {e['kind']} {e['summary']}" for e in testbed["entries"]]
        assert any(t.startswith(f"a-{victim} EXITED") and "swap the fastmon host" in t for t in texts), texts
        assert testbed["metrics"] is None

        first = await call(client, "get_execution_timeline", execution_id=execution_id, limit=2)
        second = await call(client, "get_execution_timeline", execution_id=execution_id, limit=2, cursor=first["next_cursor"])
        assert first["has_more"] and len(first["entries"]) == 2 and second["metrics"] is None
        assert not {e["id"] for e in first["entries"]} & {e["id"] for e in second["entries"]}


async def test_timeline_of_another_namespace_is_not_found(live_node: LiveNode) -> None:
    async with live_node.client() as client:
        await call(client, "start_testbed", namespace="tlx")
        await wait_ready(client, "tlx")
        started = await call(client, "start_workflow", namespace="tlx", parameters={"stf_count": 1})
    node = live_node.runtime.settings.name
    bob = identity_token(node, Identity(user="bob", namespaces=["bob"], scopes=["read", "operate"], request_id="r1"))
    async with live_node.client(token=bob) as client:
        text = await error_of(client, "get_execution_timeline", execution_id=started["execution_id"])
        assert text == f"no execution with id {started['execution_id']!r}", text
        text = await error_of(client, "get_execution_timeline", namespace="tlx")
        assert "not granted" in text and "bob" in text, text
    async with live_node.client() as client:
        text = await error_of(client, "get_execution_timeline")
        assert "execution_id" in text and "namespace" in text
