"""Both protocol eras through the gateway, with progress notifications."""

from __future__ import annotations

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_both_eras_route_and_relay_progress(gateway, spawn, mode: str) -> None:
    await spawn("n1", ["a"])
    token = await gateway.token("alice", ["a"])
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with Client(StreamableHttpTransport(gateway.mcp_url, auth=token), mode=mode,
                      progress_handler=on_progress) as c:
        era = c.session.protocol_version
        assert era == ("2026-07-28" if mode == "auto" else "2025-11-25")
        names = {t.name for t in await c.list_tools()}
        assert {"start_workflow", "wait_for_execution", "list_nodes", "whoami"} <= names
        started = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "a"})
        done = await c.call_tool("wait_for_execution", {
            "execution_id": started.structured_content["execution_id"], "timeout_s": 5, "steps": 4})
        assert done.structured_content["status"] == "completed"
        assert [p[0] for p in progress] == [1, 2, 3, 4]
        assert progress[-1] == (4, 4, "step 4 of 4")


async def test_tool_list_carries_node_argument_and_survives_node_loss(gateway, spawn) -> None:
    node = await spawn("n1", ["a"])
    token = await gateway.token("alice", ["a"])
    async with Client(StreamableHttpTransport(gateway.mcp_url, auth=token)) as c:
        before = {t.name: t for t in await c.list_tools()}
        assert "node" in before["start_workflow"].input_schema["properties"]
        assert before["get_workflow_execution"].annotations.read_only_hint is True
        node.kill()
        gateway.gateway.registry.nodes["n1"].beat_monotonic = 0.0  # lapse the lease now
        await gateway.gateway.router.registry.mark_down("n1")
        after = {t.name: t for t in await c.list_tools()}
        assert after.keys() == before.keys()
        assert after["start_workflow"].input_schema == before["start_workflow"].input_schema
