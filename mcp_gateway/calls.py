"""The handling of one forwarded tools/call as a chain of stages.

`compose([observe, rate_limit, route], forward)` builds ``observe(rate_limit(route(forward)))``;
`mcp_gateway.server.build_gateway` is the one place that lists the stages. Each stage takes
the `Call` and the next handler and returns a `Reply`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio

from mcp_gateway.breaker import Breakers
from mcp_gateway.tool_catalog import NODE_ARGUMENT, LogicalTool
from mcp_gateway.errors import AccessDenied, GatewayError, NodeDown, NodeRejected, Outcome, OutputTooLarge
from mcp_gateway.forwarding import CONNECTION_ERRORS, Emit, NodeClients
from mcp_nodes.contract.identity import Identity
from prov_agent.ids import time_ordered_key
from mcp_gateway.models import CallRecord, Era, Principal, Route
from mcp_gateway.observe import CallObserver, notify
from mcp_gateway.ratelimit import RateLimiter
from mcp_gateway.registry import Registry
from mcp_gateway.results import error_result, rpc_error_result
from mcp_gateway.routing import Router

ROUTE_META = "controlroom/route"
MODERN_ERA = "2026-07-28"
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities"
_ROUTING_HEADERS = frozenset({b"mcp-protocol-version", b"mcp-method", b"mcp-name", b"mcp-session-id"})


@dataclass(slots=True)
class Call:
    """One tools/call of a node tool, as the passthrough parsed it."""

    principal: Principal
    request_id: str | int | None
    tool: LogicalTool
    arguments: dict[str, Any]
    message: dict[str, Any]
    body: bytes
    headers: list[tuple[bytes, bytes]]
    emit: Emit
    era: Era | None = None
    client: str | None = None
    client_version: str | None = None
    client_claimed: bool = True
    """client/client_version are the client's own clientInfo (unverified); False for the gateway's own callers."""
    call_id: str = field(default_factory=time_ordered_key)  # time-ordered: the provenance index takes it at its end
    route: Route | None = None


@dataclass(slots=True)
class Reply:
    """The CallToolResult to send and how the call ended."""

    result: dict[str, Any]
    outcome: Outcome = "ok"
    error: str | None = None


Handler = Callable[[Call], Awaitable[Reply]]
Stage = Callable[[Call, Handler], Awaitable[Reply]]


def compose(stages: Sequence[Stage], endpoint: Handler) -> Handler:
    """Wrap ``endpoint`` in ``stages``; the first stage is the outermost."""
    handler = endpoint
    for stage in reversed(stages):
        handler = _bind(stage, handler)
    return handler


def _bind(stage: Stage, next_handler: Handler) -> Handler:
    async def handler(call: Call) -> Reply:
        return await stage(call, next_handler)
    return handler


def _digest(arguments: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(arguments, sort_keys=True, default=str).encode()).hexdigest()


class ObserveStage:
    """Outermost: turns gateway errors into isError replies and emits one `CallRecord` per call."""

    def __init__(self, observers: list[CallObserver]) -> None:
        self.observers = observers

    async def __call__(self, call: Call, next_handler: Handler) -> Reply:
        started, clock = datetime.now(UTC), time.perf_counter()
        reply: Reply | None = None
        try:
            reply = await next_handler(call)
        except GatewayError as error:
            result, outcome = error_result(error)
            reply = Reply(result, outcome, str(error))
        finally:
            if self.observers:
                final = reply or Reply({}, "cancelled", "the client cancelled the call")
                route = call.route
                record = CallRecord(
                    call_id=call.call_id, request_id=call.request_id, started_at=started,
                    duration_ms=(time.perf_counter() - clock) * 1000, user=call.principal.user,
                    client=call.client, client_version=call.client_version, client_claimed=call.client_claimed,
                    era=call.era, tool=call.tool.name,
                    arguments=call.arguments, arguments_sha256=_digest(call.arguments), namespace=route.namespace if route else None,
                    node=route.node if route else None, reason=route.reason if route else None,
                    outcome=final.outcome, error=final.error)
                with anyio.CancelScope(shield=True):
                    await notify(self.observers, record)
        return reply


class RateLimitStage:
    """Spends one token of the principal's bucket."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def __call__(self, call: Call, next_handler: Handler) -> Reply:
        self.limiter.take(call.principal.user)
        return await next_handler(call)


class RouteStage:
    """Checks isolation, picks the node, learns entity owners from the result."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def __call__(self, call: Call, next_handler: Handler) -> Reply:
        call.route = await self.router.route(call.tool, call.arguments, call.principal)
        reply = await next_handler(call)
        structured = reply.result.get("structuredContent")
        if isinstance(structured, dict) and not reply.result.get("isError"):
            namespace = structured.get("namespace")
            if isinstance(namespace, str) and not call.principal.allows(namespace):
                raise AccessDenied(f"the answer belongs to namespace {namespace!r}, which is not granted "
                                   f"to {call.principal.user!r}")
            self.router.learn(call.route, call.arguments, structured)
        reply.result.setdefault("_meta", {})[ROUTE_META] = {"node": call.route.node, "reason": call.route.reason}
        return reply


class Forwarder:
    """The endpoint: forwards the JSON-RPC bytes to the routed node (breaker, timeout, retries)."""

    def __init__(self, registry: Registry, clients: NodeClients, breakers: Breakers, *,
                 call_timeout_s: float, long_call_margin_s: float, read_retries: int,
                 on_unreachable: Callable[[str], Awaitable[None]]) -> None:
        self.registry = registry
        self.clients = clients
        self.breakers = breakers
        self.call_timeout_s = call_timeout_s
        self.long_call_margin_s = long_call_margin_s
        self.read_retries = read_retries
        self.on_unreachable = on_unreachable

    def timeout_for(self, call: Call) -> float:
        own = call.arguments.get("timeout_s")
        if call.tool.takes_timeout and isinstance(own, int | float) and own > 0:
            return float(own) + self.long_call_margin_s
        return self.call_timeout_s

    def _request(self, call: Call) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The body and headers sent to the node: always a 2026-07-28 (stateless) request.

        A modern caller's bytes go as they are unless a ``node`` argument must be stripped; a
        2025-11-25 caller's request gets the modern envelope (``_meta`` protocol version and
        capabilities, routing headers), so nodes never need a session for forwarded calls.
        """
        modern = call.era == MODERN_ERA
        if modern and NODE_ARGUMENT not in call.arguments:
            return call.body, call.headers
        params = dict(call.message["params"])
        if NODE_ARGUMENT in call.arguments:
            params["arguments"] = {k: v for k, v in call.arguments.items() if k != NODE_ARGUMENT}
        headers = call.headers
        if not modern:
            meta = dict(params.get("_meta") or {})
            meta.setdefault(PROTOCOL_VERSION_META_KEY, MODERN_ERA)
            meta.setdefault(CLIENT_CAPABILITIES_META_KEY, {})
            params["_meta"] = meta
            headers = [h for h in headers if h[0] not in _ROUTING_HEADERS] + [
                (b"mcp-protocol-version", MODERN_ERA.encode()), (b"mcp-method", b"tools/call"),
                (b"mcp-name", call.tool.name.encode())]
        body = json.dumps({**call.message, "params": params}, separators=(",", ":")).encode()
        return body, headers

    async def __call__(self, call: Call) -> Reply:
        assert call.route is not None
        state = self.registry.nodes[call.route.node]
        breaker = self.breakers[state.name]
        if not breaker.allow():
            raise NodeDown(f"node {state.name!r} failed {breaker.failures} calls in a row; its circuit breaker "
                           "is open for a few seconds; list_nodes shows health; retry later or with node=OTHER")
        identity = Identity(user=call.principal.user, namespaces=call.principal.namespaces,
                            scopes=call.principal.scopes, request_id=call.call_id, client=call.client)
        body, headers = self._request(call)
        headers = [*headers, self.clients.identity_header(identity, state.name)]
        attempts = 1 + (self.read_retries if call.tool.read_only else 0)
        for attempt in range(attempts):
            try:
                message = await self.clients.forward(state, body, headers, self.timeout_for(call), call.emit)
                break
            except CONNECTION_ERRORS as error:
                if attempt + 1 < attempts:
                    continue
                breaker.record(ok=False)
                await self.on_unreachable(state.name)
                raise NodeDown(f"node {state.name!r} is unreachable ({type(error).__name__}); list_nodes shows "
                               f"health; restart {state.name!r} or retry with node=OTHER") from error
            except (NodeRejected, OutputTooLarge):
                raise  # the caller's request or the size it asked for: nothing about the node's health
            except GatewayError:  # HTTP 5xx, timeouts, broken answers: the node's failure
                breaker.record(ok=False)
                raise
        breaker.record(ok=True)
        if "error" in message:
            return Reply(rpc_error_result(state.name, message["error"]), "is_error", str(message["error"]))
        result = message.get("result")
        if not isinstance(result, dict):
            result = {"content": [], "isError": True, "resultType": "complete"}
        return Reply(result, "is_error" if result.get("isError") else "ok")
