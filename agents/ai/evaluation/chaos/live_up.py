"""A live ``controlroom up`` seen from outside: an MCP client on its gateway and the waits the
injectors need (a tool read polled until true, a warning row seen).

Example::

    async with LiveUp.start(Path("/tmp/state"), "--bus", "stomp", "--stomp", "127.0.0.1:61613") as live:
        await live.call("start_testbed", namespace="demo")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from agents.ai.evaluation.chaos.errors import ChaosError
from agents.supervision.child_process import ChildProcess
from agents.ai.evaluation.chaos.up_process import controlroom_up_process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveUp:
    """A ``controlroom up`` (started here, or already running) and an MCP client on its gateway."""

    def __init__(self, process: ChildProcess | None, url: str, token: str, state_dir: Path,
                 database_url: str | None) -> None:
        self.process = process
        self.url = url
        self.token = token
        self.state_dir = state_dir
        self.database_url = database_url
        self._client: Any = None

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, state_dir: Path, *extra: str, database_url: str | None = None,
                    timeout_s: float = 60.0) -> AsyncIterator[LiveUp]:
        """Start `controlroom up` in ``state_dir`` (``database_url``: the node's store, e.g. PostgreSQL)."""
        from fastmcp import Client
        from fastmcp.client.transports import StreamableHttpTransport

        state_dir.mkdir(parents=True, exist_ok=True)
        connection = state_dir / "connection.json"
        connection.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if database_url:
            env["CONTROLROOM_NODE_DATABASE_URL"] = database_url
        args = ["--state-dir", str(state_dir), "--port", str(_free_port()), *extra]
        async with controlroom_up_process(state_dir, args, env) as process:
            deadline = time.monotonic() + timeout_s
            while not connection.exists():
                if not process.is_alive() or time.monotonic() > deadline:
                    tail = (state_dir / "up.log").read_text()[-3000:]
                    raise ChaosError(f"controlroom up did not come up in {state_dir}:\n{tail}")
                await asyncio.sleep(0.1)
            details = json.loads(connection.read_text())
            live = cls(process, details["url"], details["token"], state_dir, database_url)
            transport = StreamableHttpTransport(live.url, headers={"Authorization": f"Bearer {live.token}"})
            async with Client(transport, timeout=90) as client:
                live._client = client

                async def routed() -> bool:  # the gateway offers the node's tools once its catalog is built
                    return "start_testbed" in {tool.name for tool in await client.list_tools()}
                await live.until("the gateway to offer the node's tools", routed)
                yield live

    @classmethod
    @contextlib.asynccontextmanager
    async def attach(cls, url: str, token: str, state_dir: Path, database_url: str | None = None) -> AsyncIterator[LiveUp]:
        """An MCP client on a gateway that is already running (``controlroom chaos KIND``)."""
        from fastmcp import Client
        from fastmcp.client.transports import StreamableHttpTransport

        live = cls(None, url, token, state_dir, database_url)
        async with Client(StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"}), timeout=90) as client:
            live._client = client
            yield live

    @property
    def store_url(self) -> str:
        """The node's database: ``database_url``, or the SQLite file ``controlroom up`` keeps in its state dir."""
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'node.db'}"

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """Call a tool; an error answer raises ``ChaosError`` with the tool's message."""
        result = await self._client.call_tool(tool, arguments, raise_on_error=False)
        if result.is_error:
            raise ChaosError(f"{tool}: {result.content[0].text if result.content else 'error'}")
        return dict(result.structured_content or {})

    async def refused(self, tool: str, **arguments: Any) -> str:
        """Call a tool that must fail; returns its error text (a success is a ``ChaosError``)."""
        try:
            await self.call(tool, **arguments)
        except ChaosError as exc:
            return str(exc)
        raise ChaosError(f"{tool} {arguments} was expected to be refused but succeeded")

    async def until(self, what: str, check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
        """Poll ``check`` (a tool read) until true; a timeout is a ``ChaosError`` naming ``what``."""
        deadline = time.monotonic() + timeout_s
        while not await check():
            if time.monotonic() > deadline:
                raise ChaosError(f"timed out after {timeout_s:g} s waiting for {what}")
            await asyncio.sleep(0.2)

    async def warning_logged(self, namespace: str, needle: str) -> None:
        """Wait until a WARNING+ app_logs row of ``namespace`` contains ``needle``."""
        async def seen() -> bool:
            page = await self.call("list_logs", namespace=namespace, level="WARNING", limit=100)
            return any(needle in item.get("message", "") for item in page.get("items", []))
        await self.until(f"a WARNING containing {needle!r} in namespace {namespace}", seen)
