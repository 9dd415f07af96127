"""Keep-alive HTTP/1.1 connections to one node, for forwarded calls.

`httpcore2.AsyncConnectionPool` looks at every pooled connection each time a request starts or
a response closes (is it expired? is its socket readable?): with 20 concurrent callers that was
7.6 checks per forwarded call and a sixth of the gateway's CPU per call. Forwarded calls need
less: any idle connection to the one node will do. `KeepAlive` keeps the idle ones newest first,
checks only the one it takes, and gives a connection back when its answer was read to the end
(an answer cut short, by cancellation or an error, closes its connection). At most
``max_connections`` are in use at once; further calls wait for one.

Example::

    node = KeepAlive("http://127.0.0.1:8801/mcp")
    async with node.stream(body, headers, extensions) as response:
        ...
    await node.aclose()
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpcore2

__all__ = ["KeepAlive"]


class KeepAlive:
    """Idle keep-alive connections to ``url``'s origin; POSTs to ``url``."""

    def __init__(self, url: str, *, max_connections: int = 256, max_idle: int = 64,
                 keepalive_expiry: float = 30.0) -> None:
        self.target = httpcore2.URL(url)  # parsed once, not per call
        port = self.target.port or (443 if self.target.scheme == b"https" else 80)
        self._origin = httpcore2.Origin(self.target.scheme, self.target.host, port)
        self._idle: list[httpcore2.AsyncHTTPConnection] = []
        self._slots = anyio.Semaphore(max_connections)
        self._max_idle = max_idle
        self._expiry = keepalive_expiry

    async def _take(self) -> httpcore2.AsyncHTTPConnection:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            await _close(connection)  # the node closed it, or it sat idle too long
        return httpcore2.AsyncHTTPConnection(self._origin, keepalive_expiry=self._expiry)

    async def _give_back(self, connection: httpcore2.AsyncHTTPConnection) -> None:
        if connection.is_connected() and connection.is_idle() and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            await _close(connection)

    @contextlib.asynccontextmanager
    async def stream(self, body: bytes, headers: list[tuple[bytes, bytes]],
                     extensions: dict[str, Any]) -> AsyncIterator[httpcore2.Response]:
        """POST ``body`` to the URL; the response streams inside the block (httpcore2's errors pass)."""
        async with self._slots:
            connection = await self._take()
            try:
                async with connection.stream("POST", self.target, headers=headers, content=body,
                                             extensions=extensions) as response:
                    yield response
            finally:
                await self._give_back(connection)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await _close(connection)


async def _close(connection: httpcore2.AsyncHTTPConnection) -> None:
    with anyio.CancelScope(shield=True):
        await connection.aclose()
