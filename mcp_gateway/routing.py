"""Choosing the node for a call, in this order:

1. ``node`` argument (explicit);
2. the node owning an entity named in the arguments (execution_id, run_number, agent name,
   slice id), learnt from results that create entities or by asking the healthy nodes;
3. the node where the namespace (argument, or the principal's only namespace) has its testbed;
4. healthy nodes whose labels contain the principal's labels (a preference);
5. the least-loaded healthy node offering the tool (ties: name order).

Isolation is checked here too: a namespace argument must be granted to the principal ("not
granted": the caller named it), and an entity owned by a namespace outside the grants answers
exactly like an entity no node knows (docs/security.md), with or without ``node``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp_gateway.breaker import Breakers
from mcp_gateway.catalog import NODE_ARGUMENT, LogicalTool
from mcp_gateway.errors import AccessDenied, NodeDown, RoutingError, UnknownNode
from mcp_gateway.models import Principal, Route
from mcp_gateway.registry import NodeState, Registry

EntityKey = tuple[str, str]

ENTITY_ARGUMENTS: dict[str, str] = {
    "execution_id": "execution",
    "run_number": "run",
    "agent_name": "agent",
    "slice_id": "slice",
}
"""Argument (and result field) name -> entity kind, for every tool."""

TOOL_ENTITY_ARGUMENTS: dict[tuple[str, str], str] = {
    ("get_agent", "name"): "agent",
    ("kill_agent", "name"): "agent",
}
"""(tool, argument) -> entity kind, for arguments whose name is too generic to mean one kind."""

LOCATABLE = frozenset({"execution", "run", "agent"})
"""Entity kinds every node answers ``GET /entities/{kind}/{value}`` for: when none of them knows
one (or it is outside the caller's grants), a ``node`` argument does not send the call anyway."""


@dataclass(slots=True, frozen=True)
class Owner:
    """Which node holds an entity, and in which namespace."""

    node: str
    namespace: str | None


def entity_of(tool: str, arguments: dict[str, Any]) -> EntityKey | None:
    """The first entity named in ``arguments`` as (kind, value), or None."""
    for argument, kind in ENTITY_ARGUMENTS.items():
        value = arguments.get(argument)
        if value is not None:
            return kind, str(value)
    for (tool_name, argument), kind in TOOL_ENTITY_ARGUMENTS.items():
        if tool_name == tool and arguments.get(argument) is not None:
            return kind, str(arguments[argument])
    return None


def _down_message(state: NodeState, alternatives: list[str]) -> str:
    since = state.down_since.isoformat(timespec="seconds") if state.down_since else "recently"
    instead = f"retry with node={alternatives[0]!r} if the work can move, or " if alternatives else ""
    return (f"node {state.name!r} is {'gone' if state.health == 'gone' else 'down'} since {since}; "
            f"list_nodes shows health; {instead}restart {state.name!r} (it re-registers by itself)")


class Router:
    """Routing decisions over a `Registry`, with an entity-ownership cache."""

    def __init__(self, registry: Registry, breakers: Breakers,
                 locate: Callable[[EntityKey], Awaitable[Owner | None]]) -> None:
        self.registry = registry
        self.breakers = breakers
        self._locate = locate
        self.owners: dict[EntityKey, Owner] = {}
        self._candidates: dict[tuple[str, tuple[tuple[str, str], ...]], list[NodeState]] = {}
        self._candidates_of: object = None

    def _healthy_with(self, tool: LogicalTool, labels: dict[str, str] | None = None) -> list[NodeState]:
        """Up nodes offering ``tool`` (and carrying ``labels``), cached until the catalog is rebuilt."""
        if self._candidates_of is not self.registry.catalog:
            self._candidates, self._candidates_of = {}, self.registry.catalog
        key = (tool.name, tuple(sorted(labels.items())) if labels else ())
        found = self._candidates.get(key)
        if found is None:
            found = [s for s in self.registry.healthy() if s.name in tool.nodes
                     and all(s.info.labels.get(k) == v for k, v in key[1])]
            self._candidates[key] = found
        return found

    async def owner_of(self, entity: EntityKey) -> Owner | None:
        """The cached owner, else ask the healthy nodes (and cache the answer)."""
        owner = self.owners.get(entity)
        if owner is None:
            owner = await self._locate(entity)
            if owner is not None:
                self.owners[entity] = owner
        return owner

    def learn(self, route: Route, arguments: dict[str, Any], structured: dict[str, Any] | None) -> None:
        """Remember entities a result names (e.g. start_workflow's execution_id) as owned by the node."""
        if not structured:
            return
        namespace = structured.get("namespace") or arguments.get("namespace") or route.namespace
        for field_name, kind in ENTITY_ARGUMENTS.items():
            value = structured.get(field_name)
            if value is not None and (kind, str(value)) not in self.owners:
                self.owners[(kind, str(value))] = Owner(route.node, namespace if isinstance(namespace, str) else None)

    async def route(self, tool: LogicalTool, arguments: dict[str, Any], principal: Principal) -> Route:
        """Check isolation and pick the node; on a miss, once more after reloading the registry
        (a node registered or revived through another replica sharing the database)."""
        try:
            return await self._route(tool, arguments, principal)
        except (RoutingError, UnknownNode):
            if not await self.registry.refresh():  # one SELECT of the node rows; misses are rate-limited calls
                raise
        return await self._route(self.registry.catalog.get(tool.name, tool), arguments, principal)

    async def _route(self, tool: LogicalTool, arguments: dict[str, Any], principal: Principal) -> Route:
        entity = entity_of(tool.name, arguments)
        owner = await self.owner_of(entity) if entity is not None else None
        if owner is not None and owner.namespace is not None and not principal.allows(owner.namespace):
            owner = None  # an entity outside the caller's grants answers exactly like an unknown one
        if entity is not None and owner is None and (arguments.get(NODE_ARGUMENT) is None
                                                     or entity[0] in LOCATABLE):
            down = sorted(s.name for s in self.registry.nodes.values() if s.health != "up")
            where = f" (nodes down: {', '.join(down)}; it may live there)" if down else ""
            raise RoutingError(f"{entity[0]} {entity[1]!r} is not known to any healthy node{where}; "
                               "check the id (the list_* tools show yours)")
        return self.decide(tool, arguments, principal, owner)

    def decide(self, tool: LogicalTool, arguments: dict[str, Any], principal: Principal,
               owner: Owner | None = None) -> Route:
        """The synchronous part of routing (what bench/gateway_overhead.py times)."""
        if owner is not None and owner.namespace is not None and not principal.allows(owner.namespace):
            raise AccessDenied(f"{principal.user!r} may not act on namespace {owner.namespace!r} "
                               f"(granted: {', '.join(principal.namespaces) or 'none'}); "
                               "ask an admin for a token that grants it")
        namespace = arguments.get("namespace")
        if isinstance(namespace, str) and namespace and not principal.allows(namespace):
            raise AccessDenied(f"namespace {namespace!r} is not granted to {principal.user!r} "
                               f"(granted: {', '.join(principal.namespaces) or 'none'}); "
                               f"ask an admin for a token with --namespaces {namespace}")
        explicit = arguments.get(NODE_ARGUMENT)
        if explicit is not None:
            state = self.registry.get(str(explicit))
            if state.name not in tool.nodes:
                raise RoutingError(f"node {state.name!r} has no tool {tool.name!r}; nodes with it: "
                                   f"{', '.join(sorted(tool.nodes))}")
            return self._usable(Route(node=state.name, reason="explicit", namespace=namespace or None), tool)
        if owner is not None:
            return self._usable(Route(node=owner.node, reason="entity", namespace=owner.namespace), tool)
        if not isinstance(namespace, str) or not namespace:
            only = principal.namespaces[0] if len(principal.namespaces) == 1 else "*"
            namespace = only if only != "*" else None
        if namespace is not None:
            holders = [n for n in self.registry.by_namespace.get(namespace, ()) if n in tool.nodes]
            if holders:
                states = [self.registry.nodes[n] for n in holders]
                healthy = [s for s in states if s.health == "up"]
                if not healthy:
                    raise NodeDown(_down_message(states[0], self._alternatives(tool, exclude=holders)))
                best = min(healthy, key=lambda s: (s.load, s.name))
                return Route(node=best.name, reason="namespace", namespace=namespace)
        candidates: list[NodeState] = []
        reason = "least_loaded"
        if principal.labels:
            candidates = self._may_hold(self._without_open_breakers(self._healthy_with(tool, principal.labels)), namespace)
            reason = "labels"
        if not candidates:
            candidates = self._may_hold(self._without_open_breakers(self._healthy_with(tool)), namespace)
            reason = "least_loaded"
        if not candidates:
            held = f" whose node token lets it hold namespace {namespace!r}" if namespace is not None else ""
            raise RoutingError(f"no healthy node{held} offers {tool.name!r} (nodes with it: "
                               f"{', '.join(sorted(tool.nodes)) or 'none'}); list_nodes shows their health")
        best = min(candidates, key=lambda s: (s.load, s.name))
        return Route(node=best.name, reason=reason, namespace=namespace)  # type: ignore[arg-type]

    @staticmethod
    def _may_hold(states: list[NodeState], namespace: str | None) -> list[NodeState]:
        """Only nodes whose node token grants ``namespace`` (docs/security.md, nodes cannot impersonate)."""
        return states if namespace is None else [s for s in states if s.serves(namespace)]

    def _without_open_breakers(self, states: list[NodeState]) -> list[NodeState]:
        if not self.breakers.any_open():
            return states
        return [s for s in states if not self.breakers.is_open(s.name)]

    def _alternatives(self, tool: LogicalTool, exclude: list[str]) -> list[str]:
        return sorted(s.name for s in self.registry.healthy() if s.name in tool.nodes and s.name not in exclude)

    def _usable(self, route: Route, tool: LogicalTool) -> Route:
        state = self.registry.nodes[route.node]
        if state.health != "up":
            raise NodeDown(_down_message(state, self._alternatives(tool, exclude=[route.node])))
        return route
