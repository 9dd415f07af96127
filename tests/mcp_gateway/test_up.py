"""`controlroom up` end to end: one command, then a Claude-style session through the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from prov_agent.queries import Scope, lineage, timeline
from prov_agent.store import ProvStore, engine_for
from tests.support.up import start_up, stop_up


@pytest.fixture
def up(tmp_path: Path) -> Iterator[dict[str, str]]:
    process, details = start_up(tmp_path / "state")
    try:
        yield details
    finally:
        output = stop_up(process)
        assert process.returncode == 0, output


async def test_session_through_the_gateway_is_completed_and_recorded(up: dict[str, str]) -> None:
    transport = StreamableHttpTransport(up["url"], headers={"Authorization": f"Bearer {up['token']}"})
    async with Client(transport) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert {"start_testbed", "start_workflow", "wait_for_execution", "list_nodes", "whoami"} <= names
        started = await client.call_tool("start_testbed", {"namespace": "alice"})
        assert started.structured_content["ready"] is True
        execution = await client.call_tool(
            "start_workflow", {"namespace": "alice", "config": "fast_processing_default", "parameters": {"stf_count": 10}}
        )
        execution_id = execution.structured_content["execution_id"]
        progress: list[float] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        waited = await client.call_tool("wait_for_execution", {"execution_id": execution_id, "timeout_s": 60},
                                        progress_handler=on_progress)
        assert waited.structured_content["finished"] is True and progress
        final = await client.call_tool("get_workflow_execution", {"execution_id": execution_id})
        assert final.structured_content["status"] == "completed"
        assert final.structured_content["stf_count"] == 10
        assert final.meta["controlroom/route"] == {"node": "local", "reason": "entity"}
        bad = await client.call_tool("start_workflow", {"namespace": "alice", "parameters": {"stf_count": -1}},
                                     raise_on_error=False)
        assert bad.is_error and "stf_count" in bad.content[0].text

    await _until_recorded(Path(up["state_dir"]), 6 + 1 + 1 + 10 + 1)  # calls; execution, run, 10 files, end
    engine = engine_for(state_dir=Path(up["state_dir"]))
    try:
        store = ProvStore(engine)
        assert (await store.verify()).ok
        page = await timeline(store, Scope.parse("principal:admin"))
        calls = [r for r in page.items if r.kind == "gateway_call"]
        tools = [next(e.attrs.get("tool") for e in r.elements if e.cls == "AgentTool") for r in calls]
        assert tools == ["start_testbed", "start_workflow", "wait_for_execution", "get_workflow_execution", "start_workflow"]
        outcomes = [next(e.attrs.get("outcome") for e in r.elements if e.cls == "AgentTool") for r in calls]
        assert outcomes[-1] == "is_error" and set(outcomes[:-1]) == {"ok"}
        assert up["token"] not in json.dumps([r.model_dump(mode="json") for r in page.items])
        # from a file back to the decision that made it: STF → run → execution → call → client → person
        start_call = next(e.id for r in calls for e in r.elements
                          if e.cls == "AgentTool" and e.attrs.get("tool") == "start_workflow")
        walked = await lineage(store, "controlroom:stf/swf.100010.000001.stf")
        assert walked.found
        assert "controlroom:run/100010" in walked.activities
        assert f"controlroom:execution/{execution_id}" in walked.activities
        assert start_call in walked.tool_calls
        assert "controlroom:person/admin" in walked.persons
    finally:
        await engine.dispose()


async def _until_recorded(state_dir: Path, count: int) -> None:
    """The writer flushes every 200 ms: wait (bounded) until ``count`` records are stored."""
    import asyncio

    engine = engine_for(state_dir=state_dir)
    try:
        store = ProvStore(engine)
        for _ in range(50):
            if await store.count() >= count:
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
