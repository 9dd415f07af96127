"""Talking to nodes: one pooled keep-alive HTTP client per node, raw JSON-RPC forwarding with
SSE streamed back, health probes and entity lookups.

Only the final JSON-RPC response of a forwarded call is parsed; notifications (progress,
logging) are relayed as the node sent them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2

from mcp_gateway.errors import CallTimeout, NodeFailed, NodeRejected, OutputTooLarge
from mcp_gateway.keys import KeyRing
from mcp_nodes.contract.identity import Identity, lookup_identity, node_audience, sign_identity
from mcp_gateway.registry import NodeState
from mcp_gateway.routing import EntityKey, Owner

log = logging.getLogger(__name__)

Emit = Callable[[bytes], Awaitable[None]]
# 4xx answers that say the node's own set-up or load is wrong (identity refused, wrong URL, overload);
# any other 4xx refuses what the caller sent (body, arguments, Accept, content-type)
NODE_FAULT_STATUSES = frozenset({401, 403, 404, 407, 429})
CONNECTION_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.RemoteProtocolError,
                     httpx2.ReadError, httpx2.WriteError)


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


def _json(node: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as error:
        raise NodeFailed(f"node {node!r} answered with invalid JSON ({error}); its log may say why") from None


class NodeClients:
    """One `httpx2.AsyncClient` (keep-alive pool) per node, opened lazily, closed in the lifespan."""

    def __init__(self, keys: KeyRing, identity_ttl_s: float, max_output_bytes: int) -> None:
        self._keys = keys
        self._ttl = identity_ttl_s
        self.max_output_bytes = max_output_bytes
        self._clients: dict[str, tuple[str, httpx2.AsyncClient]] = {}
        self._closing: list[httpx2.AsyncClient] = []

    def client(self, state: NodeState) -> httpx2.AsyncClient:
        held = self._clients.get(state.name)
        if held is not None and held[0] == state.info.url:
            return held[1]
        if held is not None:
            self._closing.append(held[1])
        client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(None, connect=2.0),
            limits=httpx2.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30.0),
        )
        self._clients[state.name] = (state.info.url, client)
        return client

    def forget(self, name: str) -> None:
        held = self._clients.pop(name, None)
        if held is not None:
            self._closing.append(held[1])

    async def aclose(self) -> None:
        for client in [c for _, c in self._clients.values()] + self._closing:
            await client.aclose()
        self._clients.clear()
        self._closing.clear()

    def identity_header(self, identity: Identity, node: str) -> tuple[bytes, bytes]:
        """``Authorization: Bearer <identity JWT>`` good on node ``node`` only (its audience)."""
        token = sign_identity(self._keys.current(), identity, node_audience(node), self._ttl)
        return b"authorization", b"Bearer " + token.encode()

    async def forward(self, state: NodeState, body: bytes, headers: list[tuple[bytes, bytes]],
                      timeout: float, emit: Emit) -> dict[str, Any]:
        """POST one JSON-RPC request to the node; relay notifications; return the final response."""
        client = self.client(state)
        try:
            with anyio.fail_after(timeout):
                async with client.stream("POST", state.info.url, content=body, headers=headers) as response:
                    if response.status_code != 200:
                        text = (await response.aread())[:300].decode(errors="replace")
                        status = response.status_code
                        if 400 <= status < 500 and status not in NODE_FAULT_STATUSES:
                            raise NodeRejected(f"node {state.name!r} refused the request (HTTP {status}): {text}; "
                                               "check the call against the tool's input schema (tools/list)")
                        raise NodeFailed(f"node {state.name!r} answered HTTP {status}: {text}")
                    content_type = response.headers.get("content-type", "")
                    if content_type.startswith("application/json"):
                        data = b""
                        async for chunk in response.aiter_bytes():
                            data += chunk
                            if len(data) > self.max_output_bytes:
                                raise OutputTooLarge(_too_large(state.name, len(data), self.max_output_bytes))
                        return _json(state.name, data)
                    async for payload in sse_events(response.aiter_bytes(), self.max_output_bytes, state.name):
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
