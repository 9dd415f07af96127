"""The LLM port over the real anthropic SDK, against the scripted Messages API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.ai.anthropic_llm import AnthropicLLM
from agents.ai.errors import LLMNotConfigured, LLMUnavailable
from agents.ai.llm import Invocation, NoLLM, ToolSpec
from agents.ai.settings import AISettings
from tests.agents.ai.messages_api import ScriptedMessagesAPI, Turn


@pytest.fixture
def api() -> Iterator[ScriptedMessagesAPI]:
    server = ScriptedMessagesAPI([])
    server.start()
    yield server
    server.stop()


class Collect:
    def __init__(self) -> None:
        self.seen: list[Invocation] = []

    async def on_invocation(self, invocation: Invocation) -> None:
        self.seen.append(invocation)


def settings_for(api: ScriptedMessagesAPI, key: str = "test-key") -> AISettings:
    return AISettings(api_key=key, base_url=api.url, model="claude-test", max_retries=0)


async def test_reply_with_tool_call_counts_tokens_and_is_observed(api: ScriptedMessagesAPI) -> None:
    api.script = [Turn(text="Looking at the logs.", tool_calls=[("list_logs", {"execution_id": "x-1", "level": "ERROR"})])]
    observer = Collect()
    llm = AnthropicLLM(settings_for(api), observer=observer)
    reply = await llm.reply(
        system="diagnose",
        messages=[{"role": "user", "content": "why did x-1 fail?"}],
        tools=[ToolSpec(name="list_logs", description="logs", input_schema={"type": "object", "properties": {}})],
        agent="debugger",
    )
    await llm.aclose()
    assert reply.text == "Looking at the logs."
    assert [(c.name, c.input) for c in reply.tool_calls] == [("list_logs", {"execution_id": "x-1", "level": "ERROR"})]
    assert reply.stop_reason == "tool_use"
    assert llm.total_usage.input_tokens == reply.usage.input_tokens > 0
    # the SDK sent our tools and system prompt, authenticated
    assert api.requests[0]["tools"][0]["name"] == "list_logs"
    assert api.requests[0]["system"] == "diagnose"
    assert [i.agent for i in observer.seen] == ["debugger"] and observer.seen[0].reply == reply


async def test_api_error_is_translated_and_observed(api: ScriptedMessagesAPI) -> None:
    observer = Collect()
    llm = AnthropicLLM(settings_for(api, key="wrong"), observer=observer)
    with pytest.raises(LLMUnavailable, match="Messages API"):
        await llm.reply(system="s", messages=[{"role": "user", "content": "hi"}])
    await llm.aclose()
    assert observer.seen[0].outcome == "error"


async def test_no_key_says_how_to_configure() -> None:
    with pytest.raises(LLMNotConfigured, match="ANTHROPIC_API_KEY"):
        AnthropicLLM(AISettings(api_key=None, base_url=None))
    with pytest.raises(LLMNotConfigured, match="chat needs an LLM"):
        await NoLLM().reply(system="", messages=[], agent="chat")
