"""Chat over MCP tools with the real anthropic SDK tool runner against the scripted Messages API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastmcp import Client, FastMCP

from agents.ai.chat import ChatPrinter, ChatSession
from agents.ai.llm import Invocation
from agents.ai.settings import AISettings
from tests.agents.ai.messages_api import ScriptedMessagesAPI, Turn, tool_results


@pytest.fixture
def api() -> Iterator[ScriptedMessagesAPI]:
    server = ScriptedMessagesAPI([])
    server.start()
    yield server
    server.stop()


def counter_server() -> FastMCP:
    server = FastMCP("counter")
    state = {"started": 0}

    @server.tool
    def start_thing(name: str) -> dict[str, Any]:
        """Start a thing."""
        state["started"] += 1
        return {"name": name, "started": state["started"]}

    return server


class Seen:
    def __init__(self) -> None:
        self.invocations: list[Invocation] = []

    async def on_invocation(self, invocation: Invocation) -> None:
        self.invocations.append(invocation)


async def test_turn_streams_text_runs_tools_and_keeps_history(api: ScriptedMessagesAPI) -> None:
    def answer_from_result(body: dict[str, Any]) -> Turn:
        result = tool_results(body)[0]
        text = result["content"][0]["text"] if isinstance(result["content"], list) else result["content"]
        return Turn(text=f"Started: {text}")

    api.script = [Turn(text="Starting it.", tool_calls=[("start_thing", {"name": "alpha"})]), answer_from_result]
    out: list[str] = []
    seen = Seen()
    async with Client(counter_server()) as mcp:
        tools = await mcp.list_tools()
        chat = ChatSession(
            AISettings(api_key="test-key", base_url=api.url, model="claude-test", max_retries=0),
            mcp.session,
            tools,
            printer=ChatPrinter(out.append),
            observer=seen,
        )
        final = await chat.turn("start alpha")
        await chat.aclose()
    shown = "".join(out)
    assert "Starting it." in shown and '→ start_thing({"name":"alpha"})' in shown
    assert final.startswith("Started: ") and '"started":1' in final.replace(" ", "")
    # history: user, assistant(tool_use), user(tool_result), assistant(text)
    assert [m["role"] for m in chat.history] == ["user", "assistant", "user", "assistant"]
    assert len(seen.invocations) == 2 and all(i.agent == "chat" for i in seen.invocations)
    assert all(r.get("stream") for r in api.requests)
