"""`controlroom chat`: a conversation with Claude over the gateway's tools.

The anthropic SDK's tool runner drives the conversation; the gateway is its MCP client
(``async_mcp_tool`` wraps each gateway tool), so every tool call goes through the gateway's
auth, routing and provenance like any other client's, under the chat's own client name. Text
streams as it arrives; each tool call is shown as it happens; each model turn is reported to
the invocation observer (provenance: the chat agent acting on behalf of the user).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
from anthropic.lib.tools.mcp import async_mcp_tool

from agents.ai.llm import Invocation, InvocationObserver, LLMReply, Usage
from agents.ai.settings import AISettings

SYSTEM = (
    "You operate streaming-workflow testbeds through controlroom's MCP tools. Start a testbed "
    "before a workflow; after start_workflow, call wait_for_execution (it reports progress) "
    "instead of sleeping or polling; report execution ids, run numbers and counts exactly as "
    "the tools return them. Ask before destructive actions the user did not ask for."
)

DIRECT_COMMANDS = """\
Without an LLM, drive the testbed with the direct commands:
  controlroom up                                   gateway + local node on the embedded defaults
  controlroom workflow run stf_datataking --config fast_processing_default --stf-count 10
  controlroom workflow list | show EXECUTION_ID
  controlroom debug EXECUTION_ID                   rule-based diagnosis and fixes
  controlroom prov timeline | lineage ENTITY | verify
or connect Claude Code: claude mcp add --transport http controlroom URL --header "Authorization: Bearer TOKEN"\
"""


class ChatPrinter:
    """Where the chat shows text and tool calls (the terminal, or a list in tests)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def text(self, delta: str) -> None:
        self.write(delta)

    def tool_call(self, name: str, arguments: dict[str, Any]) -> None:
        self.write(f"\n  → {name}({json.dumps(arguments, separators=(',', ':'))})\n")

    def end_turn(self) -> None:
        self.write("\n")


class ChatSession:
    """A multi-turn conversation; ``mcp_session`` is an MCP ClientSession connected to the gateway."""

    def __init__(
        self,
        settings: AISettings,
        mcp_session: Any,
        mcp_tools: list[Any],
        *,
        printer: ChatPrinter,
        observer: InvocationObserver | None = None,
        max_iterations: int = 20,
    ) -> None:
        assert settings.api_key is not None
        self.settings = settings
        self.client = anthropic.AsyncAnthropic(
            api_key=settings.api_key.get_secret_value(), base_url=settings.base_url, max_retries=settings.max_retries
        )
        self.tools = [async_mcp_tool(tool, mcp_session) for tool in mcp_tools]
        self.printer = printer
        self.observer = observer
        self.max_iterations = max_iterations
        self.history: list[dict[str, Any]] = []

    async def turn(self, text: str) -> str:
        """One user turn: stream the answer, run the tools the model calls, return the final text."""
        self.history.append({"role": "user", "content": text})
        runner = self.client.beta.messages.tool_runner(
            model=self.settings.model,
            max_tokens=self.settings.max_tokens,
            system=SYSTEM,
            tools=self.tools,
            messages=list(self.history),  # type: ignore[arg-type]
            stream=True,
            thread=False,
            max_iterations=self.max_iterations,
        )
        final_text = ""
        async for stream in runner:
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    self.printer.text(event.delta.text)
            message = await stream.get_final_message()
            for block in message.content:
                if block.type == "tool_use":
                    self.printer.tool_call(block.name, dict(block.input or {}))
            self.history.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]})
            final_text = "".join(b.text for b in message.content if b.type == "text")
            await self._observe(message)
            tool_results = await runner.generate_tool_call_response()
            if tool_results is not None:
                self.history.append(dict(tool_results))
        self.printer.end_turn()
        return final_text

    async def _observe(self, message: Any) -> None:
        if self.observer is None:
            return
        reply = LLMReply(
            text="".join(b.text for b in message.content if b.type == "text"),
            stop_reason=message.stop_reason,
            model=message.model,
            usage=Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens),
        )
        await self.observer.on_invocation(
            Invocation(agent="chat", model=message.model, system=SYSTEM, messages=self.history[-3:], tools=[t.name for t in self.tools], reply=reply)
        )

    async def aclose(self) -> None:
        await self.client.close()
