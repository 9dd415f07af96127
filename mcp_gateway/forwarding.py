"""Talking to nodes: pooled keep-alive HTTP connections per node, raw JSON-RPC forwarding with
SSE streamed back, health probes and entity lookups.

Only the final JSON-RPC response of a forwarded call is parsed; notifications (progress,
logging) are relayed as the node sent them. Forwarded calls go over `httpcore2` keep-alive
connections (`mcp_gateway.keepalive`) with the node's URL parsed once: httpx's per-request
layers (URL parsing and merging, default headers, auth, redirects, cookies) and httpcore's
pool-wide connection checks were a third of the gateway's CPU per call and do nothing for a
fixed POST to a known node (bench/gateway_overhead.py, docs/gateway.md). Probes and entity
lookups, a few per node and minute, keep the `httpx2` client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore2
import httpx2

from mcp_gateway.errors import CallTimeout, NodeFailed, NodeRejected, OutputTooLarge
from mcp_gateway.keepalive import KeepAlive
from mcp_gateway.keys import KeyRing
from mcp_nodes.contract.identity import Identity, lookup_identity, node_audience, sign_identity
from mcp_gateway.registry import NodeState
from mcp_gateway.routing import EntityKey, Owner

log = logging.getLogger(__name__)

Emit = Callable[[bytes], Awaitable[None]]
# 4xx answers that say the node's own set-up or load is wrong (identity refused, wrong URL, overload);
# any other 4xx refuses what the caller sent (body, arguments, Accept, content-type)
NODE_FAULT_STATUSES = frozenset({401, 403, 404, 407, 429})
CONNECTION_ERRORS = (httpcore2.ConnectError, httpcore2.ConnectTimeout, httpcore2.RemoteProtocolError,
                     httpcore2.ReadError, httpcore2.WriteError)
"""What a forwarded call raises when the node cannot be reached or drops the connection."""
CONNECT_TIMEOUT_S = 2.0
_FORWARD_EXTENSIONS = {"timeout": {"connect": CONNECT_TIMEOUT_S}}  # the rest is the call's own timeout


def node_origin(url: str) -> str:
    """``http://host:port`` of a node's MCP URL (where /healthz and /entities live)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def sse_events(chunks: AsyncIterator[bytes], max_bytes: int, node: str) -> AsyncIterator[bytes]:
    """The ``data`` payload of each server-sent event (multi-line data joined with newlines)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                if len(buffer) > max_bytes:
                    raise OutputTooLarge(_too_large(node, len(buffer), max_bytes))
                break
            event, buffer = buffer[:end], buffer[end + 2:]
            data = [line[5:].lstrip(b" ") if line.startswith(b"data:") else None for line in event.split(b"\n")]
            payload = b"\n".join(d for d in data if d is not None)
            if payload:
                if len(payload) > max_bytes:
                    raise OutputTooLarge(_too_large(node, len(payload), max_bytes))
                yield payload


def _too_large(node: str, size: int, limit: int) -> str:
    return (f"the answer of node {node!r} is over the gateway's output limit of {limit} bytes "
            f"(at least {size}); ask for less (filters, a smaller page) or raise "
            "CONTROLROOM_GATEWAY_MAX_OUTPUT_BYTES")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    """The first value of header ``name`` (lower case), or b""."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return b""


def _json(node: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as error:
        raise NodeFailed(f"node {node!r} answered with invalid JSON ({error}); its log may say why") from None


class _NodeConnections:
    """What the gateway holds for one node URL: keep-alive connections for forwarding, the httpx client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.forwarding = KeepAlive(url, max_connections=256, max_idle=64, keepalive_expiry=30.0)
        self.client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(None, connect=CONNECT_TIMEOUT_S),
            limits=httpx2.Limits(max_connections=64, max_keepalive_connections=8, keepalive_expiry=30.0),
        )

    async def aclose(self) -> None:
        await self.forwarding.aclose()
        await self.client.aclose()


class NodeClients:
    """Keep-alive connections per node (`_NodeConnections`), opened lazily, closed in the lifespan."""

    def __init__(self, keys: KeyRing, identity_ttl_s: float, max_output_bytes: int) -> None:
        self._keys = keys
        self._ttl = identity_ttl_s
        self.max_output_bytes = max_output_bytes
        self._nodes: dict[str, _NodeConnections] = {}
        self._closing: list[_NodeConnections] = []

    def _connections(self, state: NodeState) -> _NodeConnections:
        held = self._nodes.get(state.name)
        if held is not None and held.url == state.info.url:
            return held
        if held is not None:
            self._closing.append(held)
        held = self._nodes[state.name] = _NodeConnections(state.info.url)
        return held

    def client(self, state: NodeState) -> httpx2.AsyncClient:
        """The node's `httpx2` client (probes, entity lookups)."""
        return self._connections(state).client

    def forget(self, name: str) -> None:
        held = self._nodes.pop(name, None)
        if held is not None:
            self._closing.append(held)

    async def aclose(self) -> None:
        for held in [*self._nodes.values(), *self._closing]:
            await held.aclose()
        self._nodes.clear()
        self._closing.clear()

    def identity_header(self, identity: Identity, node: str) -> tuple[bytes, bytes]:
        """``Authorization: Bearer <identity JWT>`` good on node ``node`` only (its audience)."""
        token = sign_identity(self._keys.current(), identity, node_audience(node), self._ttl)
        return b"authorization", b"Bearer " + token.encode()

    async def forward(self, state: NodeState, body: bytes, headers: list[tuple[bytes, bytes]],
                      timeout: float, emit: Emit) -> dict[str, Any]:
        """POST one JSON-RPC request to the node; relay notifications; return the final response."""
        node = self._connections(state)
        try:
            with anyio.fail_after(timeout):
                async with node.forwarding.stream(body, headers, _FORWARD_EXTENSIONS) as response:
                    status = response.status
                    if status != 200:
                        text = (await response.aread())[:300].decode(errors="replace")
                        if 400 <= status < 500 and status not in NODE_FAULT_STATUSES:
                            raise NodeRejected(f"node {state.name!r} refused the request (HTTP {status}): {text}; "
                                               "check the call against the tool's input schema (tools/list)")
                        raise NodeFailed(f"node {state.name!r} answered HTTP {status}: {text}")
                    content_type = _header(response.headers, b"content-type")
                    if content_type.startswith(b"application/json"):
                        data = b""
                        async for chunk in response.aiter_stream():
                            data += chunk
                            if len(data) > self.max_output_bytes:
                                raise OutputTooLarge(_too_large(state.name, len(data), self.max_output_bytes))
                        return _json(state.name, data)
                    async for payload in sse_events(response.aiter_stream(), self.max_output_bytes, state.name):
                        message = _json(state.name, payload)
                        if "method" in message:
                            await emit(payload)
                        elif "id" in message:
                            return message
                    raise NodeFailed(f"node {state.name!r} closed the stream without answering; "
                                     "its log may say why")
        except TimeoutError as error:
            raise CallTimeout(f"node {state.name!r} did not answer within {timeout:g} s; the call may "
                              "still run there (for long waits pass a larger timeout_s, or raise "
                              "CONTROLROOM_GATEWAY_CALL_TIMEOUT_S)") from error

    async def probe(self, state: NodeState, timeout: float) -> bool:
        """GET the node's /healthz; True on HTTP 200."""
        try:
            with anyio.fail_after(timeout):
                response = await self.client(state).get(node_origin(state.info.url) + "/healthz")
            return response.status_code == 200
        except (TimeoutError, httpx2.HTTPError):
            return False

    async def locate(self, nodes: list[NodeState], entity: EntityKey, timeout: float) -> Owner | None:
        """Ask ``nodes`` in parallel who owns ``entity``; first owner wins.

        Each node gets a lookup credential for itself only (scope ``lookup``, its audience, no
        namespace), which no tool accepts. An answer naming a namespace the node's token does
        not let it hold is ignored, so a node cannot draw other tenants' calls by claiming their ids.
        Failure policy "ignore": a node that errors or times out counts as not owning it.
        """
        found: list[Owner] = []
        credential = lookup_identity()
        kind, value = entity

        async def ask(state: NodeState, scope: anyio.CancelScope) -> None:
            url = f"{node_origin(state.info.url)}/entities/{kind}/{value}"
            header = dict([self.identity_header(credential, state.name)])
            try:
                response = await self.client(state).get(url, headers=header)
            except httpx2.HTTPError as error:
                log.info("locate %s on %s failed: %s", entity, state.name, error)
                return
            if response.status_code == 200:
                try:
                    namespace = response.json().get("namespace")
                except (ValueError, AttributeError):
                    return
                if not isinstance(namespace, str) or not state.serves(namespace):
                    log.warning("node %s claims %s in namespace %r, which its node token does not grant; ignored",
                                state.name, entity, namespace)
                    return
                found.append(Owner(node=state.name, namespace=namespace))
                scope.cancel()

        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as group:
                for state in nodes:
                    group.start_soon(ask, state, group.cancel_scope)
        return found[0] if found else None
