"""A scripted Messages-API server on 127.0.0.1 for driving the real anthropic SDK in tests.

Each test gives a script: a list of turns, each either a ``Turn`` (text and/or tool calls) or a
callable that receives the request body and returns a ``Turn`` (to answer from what the client
sent, e.g. the tool results). Requests are recorded. Both plain JSON and streaming (SSE)
responses are served, as the SDK asks.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Turn:
    """One scripted assistant message."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tool_calls else "end_turn"


Script = list[Turn | Callable[[dict[str, Any]], Turn]]


class ScriptedMessagesAPI:
    """The server; ``url`` is its base URL once started."""

    def __init__(self, script: Script, *, api_key: str = "test-key", model: str = "claude-test") -> None:
        self.script = list(script)
        self.api_key = api_key
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._counter = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ---- the app
    async def _messages(self, request: Request) -> Response:
        auth = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if auth != self.api_key:
            return JSONResponse(
                {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
                status_code=401,
            )
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not self.script:
            return JSONResponse(
                {"type": "error", "error": {"type": "invalid_request_error", "message": "script exhausted"}},
                status_code=400,
            )
        step = self.script.pop(0)
        turn = step(body) if callable(step) else step
        message = self._message(turn)
        if body.get("stream"):
            return StreamingResponse(self._events(message), media_type="text/event-stream")
        return JSONResponse(message)

    def _message(self, turn: Turn) -> dict[str, Any]:
        self._counter += 1
        content: list[dict[str, Any]] = []
        if turn.text:
            content.append({"type": "text", "text": turn.text})
        for index, (name, arguments) in enumerate(turn.tool_calls):
            content.append({"type": "tool_use", "id": f"toolu_{self._counter:04d}_{index}", "name": name, "input": arguments})
        return {
            "id": f"msg_{self._counter:04d}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": turn.stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 100 + self._counter, "output_tokens": 10 + len(turn.text) // 4},
        }

    @staticmethod
    def _events(message: dict[str, Any]) -> Iterator[str]:
        def event(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps(data)}\n\n"

        start = dict(message, content=[], stop_reason=None)
        yield event("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                yield event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
                for piece in _chunks(block["text"], 16):
                    yield event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}})
            else:
                empty = dict(block, input={})
                yield event("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty})
                yield event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
            yield event("content_block_stop", {"type": "content_block_stop", "index": index})
        yield event("message_delta", {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None}, "usage": {"output_tokens": message["usage"]["output_tokens"]}})
        yield event("message_stop", {"type": "message_stop"})

    # ---- lifecycle
    def start(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[sock])), daemon=True)
        self._thread.start()
        while not self._server.started:
            threading.Event().wait(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def _chunks(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of the last user message of a request."""
    last = body["messages"][-1]
    content = last.get("content")
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict) and block.get("type") == "tool_result"]
