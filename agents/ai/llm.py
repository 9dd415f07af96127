"""The LLM port: one verb, ``reply``, over a conversation with tools.

Adapters: ``AnthropicLLM`` (``agents.ai.anthropic_llm``, the Messages API through the anthropic
SDK) and ``NoLLM`` (here: no key configured; every call raises ``LLMNotConfigured`` saying how
to configure one). Every invocation is reported to the ``InvocationObserver`` the adapter was
given, so provenance (AIModelInvocation, Prompt, ResponseData, AIModel) is recorded in one place.

Example::

    llm = AnthropicLLM(AISettings())
    reply = await llm.reply(system="You diagnose testbed failures.",
                            messages=[{"role": "user", "content": "execution x failed"}],
                            tools=[ToolSpec(name="list_logs", description="...", input_schema={...})])
    for call in reply.tool_calls:
        ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from agents.ai.errors import LLMNotConfigured


class ToolSpec(BaseModel):
    """A tool the model may call (name, description, JSON schema of its input)."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolCall(BaseModel):
    """A tool call the model asked for."""

    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class LLMReply(BaseModel):
    """What the model said: text, tool calls, why it stopped, tokens and latency."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    stop_reason: str | None = None
    model: str
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    content: list[dict[str, Any]] = Field(default_factory=list, description="raw content blocks, to append to the conversation")


class Invocation(BaseModel):
    """One model invocation, as reported to the observer."""

    agent: str
    model: str
    system: str
    messages: list[dict[str, Any]]
    tools: list[str]
    reply: LLMReply | None = None
    outcome: Literal["ok", "error"] = "ok"
    error: str | None = None


class InvocationObserver(Protocol):
    """Receives every invocation (provenance records them)."""

    async def on_invocation(self, invocation: Invocation) -> None: ...


class LLM(ABC):
    """The LLM port."""

    model: str
    configured: bool = True

    @abstractmethod
    async def reply(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec] | None = None,
        agent: str = "controlroom",
    ) -> LLMReply:
        """One model turn over ``messages`` (Messages-API shaped dicts)."""

    async def aclose(self) -> None:
        """Release connections."""


class NoLLM(LLM):
    """The adapter used when no key is configured: says how to configure one."""

    configured = False

    def __init__(self, model: str = "none") -> None:
        self.model = model

    async def reply(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec] | None = None,
        agent: str = "controlroom",
    ) -> LLMReply:
        raise LLMNotConfigured(agent)
