"""A reverse proxy on 127.0.0.1 that adds ``Authorization: Bearer TOKEN`` to every request.

The official MCP conformance suite cannot send headers; the gateway refuses a request without a
bearer token. The proxy forwards everything else unchanged (method, path, query, body, ``Host``,
``Origin``, ``Mcp-Session-Id``, ``Last-Event-ID``) and streams the answer back as it comes (SSE),
so the suite sees the real gateway, including its Host/Origin checks. It exists only in tests.

Example::

    with BearerProxy("http://127.0.0.1:8700", token) as proxy:
        run(["conformance", "server", "--url", f"{proxy.url}/mcp"])
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from types import TracebackType

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


class BearerProxy:
    """Serve on a free loopback port; ``url`` is its base URL while it runs."""

    def __init__(self, upstream: str, token: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.token = token
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    async def _forward(self, request: Request) -> StreamingResponse:
        client = httpx2.AsyncClient(timeout=httpx2.Timeout(120.0))  # one per request, closed with its answer
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP | {"authorization"}]
        headers.append(("authorization", f"Bearer {self.token}"))
        outgoing = client.build_request(
            request.method, f"{self.upstream}{request.url.path}",
            params=request.url.query or None, headers=headers, content=await request.body())
        try:
            answer = await client.send(outgoing, stream=True)
        except BaseException:
            await client.aclose()
            raise

        async def body() -> AsyncIterator[bytes]:
            async for chunk in answer.aiter_raw():
                yield chunk

        async def close() -> None:
            await answer.aclose()
            await client.aclose()

        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
        return StreamingResponse(body(), status_code=answer.status_code, headers=kept, background=BackgroundTask(close))

    def __enter__(self) -> BearerProxy:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/{path:path}", self._forward,
                                      methods=["GET", "POST", "DELETE", "OPTIONS", "PUT", "PATCH"])])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[sock])), daemon=True)
        self._thread.start()
        while not self._server.started:
            threading.Event().wait(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


if __name__ == "__main__":  # by hand: python -m tests.e2e.bearer_proxy http://127.0.0.1:8700 TOKEN
    import sys

    with BearerProxy(sys.argv[1], sys.argv[2]) as running:
        print(f"{running.url}/mcp", flush=True)
        threading.Event().wait()
