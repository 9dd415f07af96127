"""A chat turn through the real gateway: Claude (scripted, real SDK) starts a testbed and runs a workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.types import Implementation

from agents.ai.chat import ChatPrinter, ChatSession
from agents.ai.settings import AISettings
from prov_agent.queries import Scope, timeline
from prov_agent.store import ProvStore, engine_for
from tests.support.up import start_up, stop_up
from tests.agents.ai.messages_api import ScriptedMessagesAPI, Turn, tool_results


def _result_json(body: dict[str, Any]) -> dict[str, Any]:
    result = tool_results(body)[0]
    content = result["content"]
    text = content[0]["text"] if isinstance(content, list) else content
    return json.loads(text)


async def test_chat_turn_starts_a_testbed_and_runs_a_workflow(tmp_path: Path, messages_api: ScriptedMessagesAPI) -> None:
    def wait_for_it(body: dict[str, Any]) -> Turn:
        execution_id = _result_json(body)["execution_id"]
        return Turn(tool_calls=[("wait_for_execution", {"execution_id": execution_id, "timeout_s": 60})])

    def report(body: dict[str, Any]) -> Turn:
        execution = _result_json(body)["execution"]
        return Turn(text=f"Execution {execution['execution_id']} {execution['status']} with {execution['stf_count']} STFs.")

    messages_api.script = [
        Turn(text="Starting the testbed.", tool_calls=[("start_testbed", {"namespace": "carol"})]),
        Turn(tool_calls=[("start_workflow", {"namespace": "carol", "parameters": {"stf_count": 4}})]),
        wait_for_it,
        report,
    ]
    process, up = start_up(tmp_path / "state")
    try:
        transport = StreamableHttpTransport(up["url"], headers={"Authorization": f"Bearer {up['token']}"})
        shown: list[str] = []
        async with Client(transport, client_info=Implementation(name="controlroom-chat", version="0.1.0")) as mcp:
            chat = ChatSession(
                AISettings(api_key="test-key", base_url=messages_api.url, model="claude-test", max_retries=0),
                mcp.session, await mcp.list_tools(), printer=ChatPrinter(shown.append),
            )
            final = await chat.turn("Start a testbed in carol and run 4 STFs")
            await chat.aclose()
    finally:
        stop_up(process)
    assert final.startswith("Execution stf_datataking-admin-0001 completed with 4 STFs")
    transcript = "".join(shown)
    assert "→ start_testbed" in transcript and "→ wait_for_execution" in transcript
    # the model saw the gateway's tools, with their schemas
    offered = {tool["name"] for tool in messages_api.requests[0]["tools"]}
    assert {"start_testbed", "start_workflow", "wait_for_execution", "debug_execution"} <= offered
    engine = engine_for(state_dir=Path(up["state_dir"]))
    try:
        page = await timeline(ProvStore(engine), Scope.parse("principal:admin"))
    finally:
        await engine.dispose()
    agents = {e.attrs.get("name") for r in page.items for e in r.elements if e.cls == "AIAgent"}
    assert "controlroom-chat" in agents  # the chat client, acting on behalf of admin
