"""The transport edge: what an HTTP request must satisfy before the gateway reads it as MCP.

Checked in this order, each refusal a JSON-RPC error the client can read (never HTTP 500):

1. ``Host`` and ``Origin`` (DNS rebinding; the MCP streamable-HTTP transport requires it): the
   Host must name loopback, the bound address or a configured name (else 421); a browser
   ``Origin`` must be loopback, same-origin or configured (else 403). No Origin = a non-browser
   client, allowed. FastMCP's `HostOriginGuardMiddleware` does the matching.
2. The body size (`BodyLimit`): a declared ``content-length`` over the limit is refused with 413
   before anything is read; otherwise bytes are counted as they arrive and reading stops with 413
   at the first chunk past the limit.
3. The envelope (`parse_envelope`, called by the passthrough): nesting depth and the number of
   objects and arrays before parsing (bytes operations; the parser's cost grows with them), then
   one JSON object with ``jsonrpc: "2.0"``, an ``id`` that is a bounded integer or short printable
   string, a string ``method``, ``params`` an object, and for ``tools/call`` a string ``name`` and
   object ``arguments``. Codes: -32700 parse error, -32600 invalid request, -32602 invalid params,
   all with HTTP 400 (as the MCP SDK's own transport answers) and the request's id when it has a
   valid one.

Example::

    app = transport_edge(McpPassthrough(...), settings)
"""

from __future__ import annotations

import functools
import json
import re
from collections import deque
from typing import Any

from fastmcp.server.http import HostOriginGuardMiddleware
from pydantic_core import from_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_gateway.settings import GatewaySettings

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602
MAX_ID_CHARS = 256
MAX_METHOD_CHARS = 256
_INT64 = 1 << 63
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
_CURLY_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET_OR_QUOTE = bytes(b for b in range(256) if b not in b'[]{}"')


class EnvelopeError(Exception):
    """A request the gateway refuses at the edge, with its JSON-RPC code and HTTP status."""

    def __init__(self, code: int, message: str, status: int = 400, request_id: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.request_id = request_id

    def body(self) -> bytes:
        return json.dumps({"jsonrpc": "2.0", "id": self.request_id,
                           "error": {"code": self.code, "message": str(self)}}).encode()

    async def send(self, send: Send, close: bool = False) -> None:
        """Send the refusal as a complete JSON response."""
        body = self.body()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def transport_edge(app: ASGIApp, settings: GatewaySettings) -> ASGIApp:
    """``app`` behind the Host/Origin guard and the body limit (outermost first)."""
    limited = BodyLimit(app, settings.max_body_bytes)
    return HostOriginGuardMiddleware(limited, allowed_hosts=settings.allowed_hosts,
                                     allowed_origins=settings.allowed_origins, mode="strict")


def _too_large(limit: int, size: int | None = None) -> EnvelopeError:
    seen = f"{size} bytes" if size is not None else "more"
    return EnvelopeError(INVALID_REQUEST, f"request body too large: {seen}, the limit is {limit} bytes; send "
                         "less (large inputs belong in files the node reads) or raise "
                         "CONTROLROOM_GATEWAY_MAX_BODY_BYTES", status=413)


class BodyLimit:
    """ASGI middleware: read at most ``limit`` body bytes, then replay them to ``app``; 413 above."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await EnvelopeError(INVALID_REQUEST, "content-length is not a number").send(send, close=True)
                    return
                if declared > self.limit:
                    await _too_large(self.limit, declared).send(send, close=True)
                    return
        body = bytearray()
        buffered: deque[Message] = deque()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                buffered.append(message)
                break
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _too_large(self.limit).send(send, close=True)
                return
            if not message.get("more_body", False):
                break
        buffered.appendleft({"type": "http.request", "body": bytes(body), "more_body": False})

        async def replay() -> Message:
            return buffered.popleft() if buffered else await receive()

        await self.app(scope, replay, send)


def _skeleton(body: bytes) -> bytes:
    """The brackets of a JSON text outside its strings, ``{}`` written as ``[]`` (bytes operations only)."""
    if b"\\" in body:  # escaped backslashes pair up from the left; what is left before a quote escapes it
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(_CURLY_AS_SQUARE, _NOT_BRACKET_OR_QUOTE)
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])  # the even pieces lie outside strings
    return skeleton


@functools.lru_cache(maxsize=8)
def _nested_at_most(depth: int) -> re.Pattern[bytes]:
    """Balanced brackets nested at most ``depth`` deep: a regular language for a fixed depth, matched
    with atomic groups and possessive repeats, so linear time and no recursion."""
    pattern = rb"(?>\[\])*+"
    for _ in range(depth - 1):
        pattern = rb"(?>\[" + pattern + rb"\])*+"
    return re.compile(pattern)


def check_structure(body: bytes, max_depth: int, max_containers: int) -> bool:
    """Before parsing, with bytes operations only (about 0.1 s for 4 MiB of brackets on this machine,
    microseconds for ordinary bodies): `EnvelopeError` when ``body`` holds more than ``max_containers``
    objects and arrays (each costs the parser an allocation); True when its brackets nest deeper than
    ``max_depth`` or do not balance (the caller tells the two apart by parsing)."""
    brackets = body.count(b"[") + body.count(b"{")
    if brackets <= max_depth and brackets <= max_containers:
        return False
    skeleton = _skeleton(body)
    if len(skeleton) // 2 > max_containers:
        raise EnvelopeError(INVALID_REQUEST, f"the request holds {len(skeleton) // 2} JSON objects and arrays, "
                            f"more than {max_containers}; send fewer (large inputs belong in files the node "
                            "reads) or raise CONTROLROOM_GATEWAY_MAX_JSON_CONTAINERS")
    return brackets > max_depth and _nested_at_most(max_depth).fullmatch(skeleton) is None


def _too_deep(depth: int) -> EnvelopeError:
    return EnvelopeError(INVALID_REQUEST, f"the request nests [ and {{ deeper than {depth} levels; flatten it "
                         "(or raise CONTROLROOM_GATEWAY_MAX_JSON_DEPTH)")


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, str) and len(value) <= MAX_ID_CHARS and not _UNPRINTABLE.search(value)


def parse_envelope(body: bytes, max_depth: int = 64, max_containers: int = 100_000) -> dict[str, Any]:
    """The JSON-RPC message in ``body``, or `EnvelopeError` saying what is wrong with it."""
    too_deep = check_structure(body, max_depth, max_containers)
    try:
        # pydantic-core's parser (as the MCP SDK's): recursion-safe (its own limit), rejects invalid
        # UTF-8, raw control characters and lone UTF-16 surrogates
        message = from_json(body, allow_inf_nan=False)
    except ValueError as error:
        if too_deep and "recursion limit" in str(error):  # deeper than even the parser's own limit
            raise _too_deep(max_depth) from None
        raise EnvelopeError(PARSE_ERROR, f"parse error: the body is not valid JSON in UTF-8 ({error})") from None
    if too_deep:  # valid JSON whose brackets did not match the depth pattern: nested too deep
        raise _too_deep(max_depth)
    if not isinstance(message, dict):
        raise EnvelopeError(INVALID_REQUEST, f"a request must be one JSON-RPC object, not {_json_type(message)} "
                            "(MCP has no batches)")
    if message.get("jsonrpc") != "2.0":
        raise EnvelopeError(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
    if "id" in message and not _valid_id(message["id"]):
        raise EnvelopeError(INVALID_REQUEST, f'invalid request: "id" must be an integer (64-bit) or a string of '
                            f"at most {MAX_ID_CHARS} printable characters")
    request_id = message.get("id")
    method = message.get("method")
    if method is None:
        if "id" in message and ("result" in message or "error" in message):
            return message  # a client's answer to a server request
        raise EnvelopeError(INVALID_REQUEST, 'invalid request: "method" is missing')
    if not isinstance(method, str) or len(method) > MAX_METHOD_CHARS or _UNPRINTABLE.search(method):
        raise EnvelopeError(INVALID_REQUEST, 'invalid request: "method" must be a short printable string')
    params = message.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise EnvelopeError(INVALID_PARAMS, f'invalid params: "params" must be an object, not {_json_type(params)}',
                            request_id=request_id)
    if not isinstance(params.get("_meta") or {}, dict):
        raise EnvelopeError(INVALID_PARAMS, 'invalid params: "params._meta" must be an object', request_id=request_id)
    if method == "tools/call":
        name = params.get("name")
        if not isinstance(name, str) or len(name) > MAX_METHOD_CHARS or _UNPRINTABLE.search(name):
            raise EnvelopeError(INVALID_PARAMS, 'invalid params: "params.name" must be the name of a tool '
                                "(tools/list shows them)", request_id=request_id)
        arguments = params.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            raise EnvelopeError(INVALID_PARAMS, 'invalid params: "params.arguments" must be an object of '
                                f"argument names to values, not {_json_type(arguments)}", request_id=request_id)
    if method == "notifications/cancelled" and not _valid_id(params.get("requestId")):
        raise EnvelopeError(INVALID_PARAMS, 'invalid params: "params.requestId" must be the id of a request '
                            "you sent (an integer or a short string)")
    return message
