"""The LLM port over the anthropic SDK's Messages API (``AsyncAnthropic``).

Retries and back-off are the SDK's (``max_retries``); this adapter adds token accounting and
reports every invocation to its observer.
"""

from __future__ import annotations

import time
from typing import Any

import anthropic

from agents.ai.errors import LLMNotConfigured, LLMUnavailable
from agents.ai.llm import LLM, Invocation, InvocationObserver, LLMReply, ToolCall, ToolSpec, Usage
from agents.ai.settings import AISettings


class AnthropicLLM(LLM):
    """Claude through the Messages API. ``base_url`` may point at any compatible server."""

    def __init__(self, settings: AISettings | None = None, *, observer: InvocationObserver | None = None) -> None:
        self.settings = settings or AISettings()
        if not self.settings.configured:
            raise LLMNotConfigured("the Anthropic adapter")
        assert self.settings.api_key is not None
        self.model = self.settings.model
        self.observer = observer
        self.total_usage = Usage()
        self.client = anthropic.AsyncAnthropic(
            api_key=self.settings.api_key.get_secret_value(),
            base_url=self.settings.base_url,
            max_retries=self.settings.max_retries,
            timeout=self.settings.timeout_s,
        )

    async def reply(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec] | None = None,
        agent: str = "controlroom",
    ) -> LLMReply:
        tools = tools or []
        invocation = Invocation(
            agent=agent, model=self.model, system=system, messages=messages, tools=[t.name for t in tools]
        )
        started = time.perf_counter()
        try:
            message = await self.client.messages.create(
                model=self.model,
                max_tokens=self.settings.max_tokens,
                system=system,
                messages=messages,  # type: ignore[arg-type]
                tools=[t.model_dump() for t in tools] if tools else anthropic.omit,  # type: ignore[arg-type]
            )
        except anthropic.APIError as exc:
            invocation.outcome, invocation.error = "error", f"{type(exc).__name__}: {exc}"
            await self._observe(invocation)
            raise LLMUnavailable(f"the Messages API at {self.client.base_url} failed: {exc}") from exc
        reply = _to_reply(message, time.perf_counter() - started)
        self.total_usage.input_tokens += reply.usage.input_tokens
        self.total_usage.output_tokens += reply.usage.output_tokens
        invocation.reply = reply
        await self._observe(invocation)
        return reply

    async def _observe(self, invocation: Invocation) -> None:
        if self.observer is not None:
            await self.observer.on_invocation(invocation)

    async def aclose(self) -> None:
        await self.client.close()


def _to_reply(message: Any, latency_s: float) -> LLMReply:
    text: list[str] = []
    calls: list[ToolCall] = []
    content: list[dict[str, Any]] = []
    for block in message.content:
        content.append(block.model_dump(exclude_none=True))
        if block.type == "text":
            text.append(block.text)
        elif block.type == "tool_use":
            calls.append(ToolCall(id=block.id, name=block.name, input=dict(block.input or {})))
    return LLMReply(
        text="".join(text),
        tool_calls=calls,
        stop_reason=message.stop_reason,
        model=message.model,
        usage=Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens),
        latency_s=latency_s,
        content=content,
    )
