"""The ASGI layer in front of the gateway's FastMCP server.

Every request to ``/mcp`` is authenticated here (401 with ``WWW-Authenticate`` otherwise), a
session id is accepted only from the principal whose ``initialize`` opened it (404 otherwise),
and a POSTed body must be a well-formed JSON-RPC envelope (`mcp_gateway.transport.parse_envelope`;
Host/Origin and the body limit were checked before, by `mcp_gateway.transport.transport_edge`).
A POSTed ``tools/call`` of a node tool is handled here: the body is parsed once, the call
goes through the stage chain (`mcp_gateway.calls`) and the node's answer is streamed back.
Everything else (initialize, server/discover, tools/list, the gateway's own tools, pings,
notifications) is replayed to the FastMCP app unchanged. A ``notifications/cancelled`` reaches
only the sender's own in-flight calls (keyed by principal, session and request id). The principal rides in
``scope["user"]`` so FastMCP tools can read it (`mcp_gateway.tools.current_principal`).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastmcp.server.auth import AccessToken
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_gateway.calls import Call, Handler
from mcp_gateway.tool_catalog import LogicalTool
from mcp_gateway.errors import AuthError
from mcp_gateway.auth import Authenticator
from mcp_gateway.models import Principal
from mcp_gateway.transport import INVALID_PARAMS, INVALID_REQUEST, EnvelopeError, parse_envelope

FORWARDED_HEADERS = frozenset({b"content-type", b"accept", b"mcp-protocol-version", b"mcp-method", b"mcp-name"})
CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
MAX_REMEMBERED_SESSIONS = 10_000


def _unauthorized(error: AuthError) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"error": "invalid_token", "error_description": str(error)}).encode()
    start = {"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="controlroom", error="invalid_token"')]}
    return start, body


class _Writer:
    """Writes one call's answer: SSE once a notification is relayed, JSON otherwise."""

    def __init__(self, send: Send, session: bytes | None) -> None:
        self._send = send
        self._session = session
        self.streaming = False

    def _headers(self, content_type: bytes) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", content_type), (b"cache-control", b"no-cache")]
        if self._session is not None:
            headers.append((b"mcp-session-id", self._session))
        return headers

    async def event(self, payload: bytes) -> None:
        if not self.streaming:
            self.streaming = True
            await self._send({"type": "http.response.start", "status": 200,
                              "headers": self._headers(b"text/event-stream")})
        await self._send({"type": "http.response.body", "body": b"event: message\ndata: " + payload + b"\n\n",
                          "more_body": True})

    async def finish(self, payload: bytes) -> None:
        if self.streaming:
            await self.event(payload)
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await self._send({"type": "http.response.start", "status": 200,
                          "headers": self._headers(b"application/json")})
        await self._send({"type": "http.response.body", "body": payload, "more_body": False})


class McpPassthrough:
    """ASGI app: authenticate ``/mcp``, forward node tool calls, hand the rest to ``inner``."""

    def __init__(self, inner: ASGIApp, authenticator: Authenticator, handler: Handler,
                 catalog: Callable[[], dict[str, LogicalTool]], own_tools: Callable[[], set[str]],
                 path: str = "/mcp", max_json_depth: int = 64, max_json_containers: int = 100_000,
                 on_unknown_tool: Callable[[], Awaitable[object]] | None = None) -> None:
        self.inner = inner
        self.on_unknown_tool = on_unknown_tool
        """Awaited once before a tools/call of a name not in the catalog is answered (the gateway
        reloads its registry: a node registered through another replica); a name still unknown
        then (not a node's, not the gateway's own) gets JSON-RPC error -32602."""
        self.authenticator = authenticator
        self.handler = handler
        self.catalog = catalog
        self.own_tools = own_tools
        self.path = path
        self.max_json_depth = max_json_depth
        self.max_json_containers = max_json_containers
        # in-flight node calls by (user, mcp-session-id, request id): a cancellation reaches only its sender's
        self._in_flight: dict[tuple[str, bytes, Any], anyio.CancelScope] = {}
        # who opened each handshake-era session: a session is used only by the principal that opened it
        self._session_owners: OrderedDict[bytes, str] = OrderedDict()
        # clientInfo of handshake-era sessions (learned from `initialize`), by mcp-session-id
        self._session_clients: OrderedDict[bytes, dict[str, Any]] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.inner(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            principal = await self.authenticator.principal(headers.get(b"authorization", b"").decode("latin-1"))
        except AuthError as error:
            start, body = _unauthorized(error)
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        session = headers.get(b"mcp-session-id")
        if session is not None and self._session_owners.get(session) != principal.user:
            # unknown, expired or another principal's session: the transport's answer is 404
            await EnvelopeError(INVALID_REQUEST, "session not found: this mcp-session-id is unknown or expired; "
                                "start a new session with initialize", status=404).send(send)
            return
        if scope["method"] != "POST":
            await self.inner(_with_user(scope, principal), receive, send)
            return
        body = await _read_body(receive)
        try:
            message = parse_envelope(body, self.max_json_depth, self.max_json_containers)
        except EnvelopeError as error:
            await error.send(send)
            return
        method = message.get("method")
        if method == "tools/call":
            name = message["params"]["name"]
            tool = self.catalog().get(name)
            if tool is None and self.on_unknown_tool is not None and name not in self.own_tools():
                await self.on_unknown_tool()
                tool = self.catalog().get(name)
            if tool is not None and name not in self.own_tools():
                await self._call(scope, receive, send, headers, principal, tool, message, body)
                return
            if tool is None and name not in self.own_tools():
                await self._unknown_tool(send, headers, message, name)
                return
        elif method == "initialize":
            info = (message.get("params") or {}).get("clientInfo")
            send = self._learn_session(send, principal, info if isinstance(info, dict) else None)
        elif method == "notifications/cancelled" and self._cancel(headers, principal, message):
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.inner(_with_user(scope, principal), _replay(body, receive), send)

    async def _unknown_tool(self, send: Send, headers: dict[bytes, bytes], message: dict[str, Any], name: str) -> None:
        """The protocol's answer to a tools/call of a name no node and not the gateway serves:
        JSON-RPC error -32602 (invalid params), not an ``isError`` result."""
        error = {"code": INVALID_PARAMS, "message": f"unknown tool {name!r}: tools/list shows the tools you can call "
                                                   "(a node's tools appear while one offering them is registered)"}
        payload = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "error": error},
                             separators=(",", ":")).encode()
        await _Writer(send, headers.get(b"mcp-session-id")).finish(payload)

    def _learn_session(self, send: Send, principal: Principal, info: dict[str, Any] | None) -> Send:
        """Wrap ``send`` to remember the owner (and ``info``) of the session id the response assigns."""

        async def remember(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                for key, value in event.get("headers", []):
                    if key.lower() == b"mcp-session-id":
                        self._session_owners[value] = principal.user
                        while len(self._session_owners) > MAX_REMEMBERED_SESSIONS:
                            self._session_owners.popitem(last=False)
                        if info is not None:
                            self._session_clients[value] = info
                            while len(self._session_clients) > MAX_REMEMBERED_SESSIONS:
                                self._session_clients.popitem(last=False)
            await send(event)

        return remember

    def _key(self, headers: dict[bytes, bytes], principal: Principal, request_id: Any) -> tuple[str, bytes, Any]:
        return principal.user, headers.get(b"mcp-session-id", b""), request_id

    def _cancel(self, headers: dict[bytes, bytes], principal: Principal, message: dict[str, Any]) -> bool:
        request_id = (message.get("params") or {}).get("requestId")
        scope = self._in_flight.get(self._key(headers, principal, request_id))
        if scope is None:
            return False
        scope.cancel()
        return True

    async def _call(self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes],
                    principal: Principal, tool: LogicalTool, message: dict[str, Any], body: bytes) -> None:
        params = message["params"]
        arguments = params.get("arguments") or {}  # an object or absent: parse_envelope checked it
        meta = params.get("_meta") or {}
        client_info = meta.get(CLIENT_INFO_META) if isinstance(meta, dict) else None
        if not isinstance(client_info, dict):
            client_info = self._session_clients.get(headers.get(b"mcp-session-id", b""))
        era = headers.get(b"mcp-protocol-version", b"").decode("latin-1") or None
        writer = _Writer(send, headers.get(b"mcp-session-id"))
        call = Call(
            principal=principal, request_id=message.get("id"), tool=tool,
            arguments=arguments, message=message, body=body,
            headers=[(k, v) for k, v in scope["headers"] if k in FORWARDED_HEADERS], emit=writer.event,
            era="2026-07-28" if era == "2026-07-28" else "2025-11-25",
            client=client_info.get("name") if isinstance(client_info, dict) else None,
            client_version=client_info.get("version") if isinstance(client_info, dict) else None)
        key = self._key(headers, principal, call.request_id)
        reply = None
        async with anyio.create_task_group() as group:
            self._in_flight[key] = group.cancel_scope

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            try:
                reply = await self.handler(call)
            finally:
                group.cancel_scope.cancel()
        self._in_flight.pop(key, None)
        if reply is None:  # cancelled by the client: nothing to answer
            if writer.streaming:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        payload = json.dumps({"jsonrpc": "2.0", "id": call.request_id, "result": reply.result},
                             separators=(",", ":")).encode()
        await writer.finish(payload)


def _with_user(scope: Scope, principal: Principal) -> Scope:
    """Put the principal where FastMCP looks for the authenticated user."""
    scope["user"] = AuthenticatedUser(AccessToken(
        token="", client_id=principal.user, scopes=principal.scopes, subject=principal.user,
        claims={"principal": principal}))
    return scope


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
