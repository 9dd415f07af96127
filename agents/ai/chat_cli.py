"""`controlroom chat`: talk to the testbed in natural language (needs an Anthropic API key)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cyclopts import App
from rich.console import Console

from agents.ai.chat import DIRECT_COMMANDS, ChatPrinter, ChatSession
from agents.ai.connection import resolve_connection
from agents.ai.errors import LLMNotConfigured
from agents.ai.settings import AISettings

app = App(name="chat", help="A terminal conversation with Claude over the gateway's tools.")


@app.default
def chat(url: str | None = None, token: str | None = None, state_dir: Path | None = None, model: str | None = None) -> int:
    """Start a conversation. Without an API key, explains how to set one and lists the direct commands.

    Parameters
    ----------
    url: the gateway's MCP URL (default: from `controlroom up`'s connection file)
    token: bearer token for the gateway
    state_dir: where `controlroom up` keeps its state (default ~/.controlroom)
    model: the Claude model (default CONTROLROOM_AI_MODEL or claude-sonnet-4-5)
    """
    console = Console()
    settings = AISettings() if model is None else AISettings(model=model)
    if not settings.configured:
        print(LLMNotConfigured("`controlroom chat`"))
        print(DIRECT_COMMANDS)
        return 2
    try:
        connection = resolve_connection(url, token, state_dir)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    return asyncio.run(_converse(settings, connection.url, connection.token, console))


async def _converse(settings: AISettings, url: str, token: str, console: Console) -> int:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport
    from mcp.types import Implementation

    transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
    async with Client(transport, client_info=Implementation(name="controlroom-chat", version="0.1.0")) as mcp:
        tools = await mcp.list_tools()
        session = ChatSession(settings, mcp.session, tools, printer=ChatPrinter(lambda s: console.print(s, end="")))
        console.print(f"controlroom chat — {len(tools)} tools at {url}. Empty line or Ctrl-D to leave.")
        try:
            while True:
                try:
                    line = await asyncio.to_thread(input, "\nyou> ")
                except EOFError:
                    break
                if not line.strip():
                    break
                await session.turn(line)
        finally:
            await session.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(app())
