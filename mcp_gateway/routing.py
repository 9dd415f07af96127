"""Choosing the node for a call, in this order:

1. ``node`` argument (explicit);
2. the node owning an entity named in the arguments (`ENTITY_ARGUMENTS` and the per-tool tables:
   execution, run, agent, STF file, TF file, log entry), learnt from results that create entities
   or by asking the healthy nodes; a TF slice routes by its TF file;
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
from mcp_gateway.tool_catalog import NODE_ARGUMENT, LogicalTool
from mcp_gateway.errors import AccessDenied, NodeDown, RoutingError, UnknownEntity, UnknownNode
from mcp_gateway.models import Principal, Route
from mcp_gateway.registry import NodeState, Registry

EntityKey = tuple[str, str]

ENTITY_ARGUMENTS: dict[str, str] = {
    "execution_id": "execution",
    "run_number": "run",
    "tf_filename": "tf",
}
"""Argument (and result field) name -> entity kind, for every tool. A TF slice is keyed by
(tf_filename, slice_id): slice ids (0-14) repeat in every TF file, so it routes by its TF file."""

TOOL_ENTITY_ARGUMENTS: dict[tuple[str, str], str] = {
    ("get_agent", "name"): "agent",
    ("kill_agent", "name"): "agent",
    ("restart_agent", "name"): "agent",
    ("get_stf_file", "filename"): "stf",
    ("get_log_entry", "log_id"): "log",
}
"""(tool, argument) -> entity kind, for arguments whose name is too generic to mean one kind."""

FILTER_ENTITY_ARGUMENTS: dict[tuple[str, str], str] = {
    ("list_messages", "agent"): "agent",
    ("list_logs", "agent"): "agent",
    ("list_tf_slices", "worker"): "agent",
}
"""(tool, argument) -> entity kind, for list filters: the call goes to the node holding the
entity when one does; a name no node holds (a log source such as 'chaos') routes as if absent
and the filter matches nothing there."""

NAMESPACE_ARGUMENTS: dict[tuple[str, str], str] = {
    ("get_namespace", "name"): "namespace",
}
"""(tool, argument) naming a namespace under another name: routed and checked like ``namespace``."""

PLAIN_ARGUMENTS: dict[str, str] = {
    "namespace": "routes by namespace (the node holding its testbed)",
    "node": "forces the node",
    "reason": "free text", "limit": "page size", "cursor": "page position",
    "status": "filter value", "start_time": "filter value", "end_time": "filter value",
    "level": "filter value", "search": "filter text", "msg_type": "filter value",
    "agent_type": "filter value", "currently_running": "filter value", "executed_by": "a user, not an entity",
    "workflow_name": "a definition name: definitions route with the namespace",
    "workflow": "a definition name: definitions route with the namespace",
    "config": "a config file name in the node's workflows directory",
    "realtime": "option", "parameters": "option", "timeout_s": "option", "budget_chars": "option",
    "older_than": "option", "body": "message content", "spec_text": "spec content",
    "scripts": "spec content", "dry_run": "option", "include_config": "option",
    "sections": "option",
}
"""Arguments that name no entity (tests/mcp_gateway/test_routing_contract.py requires every node
tool argument to be here or in one of the tables above)."""

TOOL_PLAIN_ARGUMENTS: dict[tuple[str, str], str] = {
    ("get_tf_slice", "slice_id"): "unique only within its TF file: routes by tf_filename",
    ("spec_generate", "name"): "the name of a definition to create: routes with the namespace",
    ("register_workflow_definition", "name"): "a definition name: routes with the namespace",
}
"""(tool, argument) that names no entity although its name might suggest one."""

LOCATABLE = frozenset({"execution", "run", "agent", "stf", "tf", "log"})
"""Entity kinds every node answers ``GET /entities/{kind}/{value}`` for: when none of them knows
one (or it is outside the caller's grants), a ``node`` argument does not send the call anyway."""

FIND_WITH: dict[str, str] = {
    "execution": "list_workflow_executions", "run": "list_runs", "agent": "list_agents",
    "stf": "list_stf_files", "tf": "list_tf_slices", "log": "list_logs",
}
"""The tool that lists real ids of each kind (named in the error for an unknown one)."""


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


def filter_entity_of(tool: str, arguments: dict[str, Any]) -> EntityKey | None:
    """The entity a list filter names (`FILTER_ENTITY_ARGUMENTS`), or None."""
    for (tool_name, argument), kind in FILTER_ENTITY_ARGUMENTS.items():
        if tool_name == tool and arguments.get(argument) is not None:
            return kind, str(arguments[argument])
    return None


def namespace_of(tool: str, arguments: dict[str, Any]) -> Any:
    """The namespace named in ``arguments`` (``namespace`` or a `NAMESPACE_ARGUMENTS` alias)."""
    value = arguments.get("namespace")
    if value is None:
        for (tool_name, argument), _ in NAMESPACE_ARGUMENTS.items():
            if tool_name == tool and arguments.get(argument) is not None:
                return arguments[argument]
    return value


def unknown_message(entity: EntityKey, down: list[str]) -> str:
    """What a caller reads for an id no healthy node holds in its namespaces."""
    kind, value = entity
    where = f" (nodes down: {', '.join(down)}; it may live there)" if down else ""
    finder = FIND_WITH.get(kind, "the list_* tools")
    shape = " (real ids look like '{workflow}-{user}-{NNNN}')" if kind == "execution" else ""
    return f"unknown {kind} {value!r}{where}; {finder} shows the real ids you can use{shape}"


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
            raise UnknownEntity(unknown_message(entity, down))
        if entity is None and arguments.get(NODE_ARGUMENT) is None:
            named = filter_entity_of(tool.name, arguments)
            found = await self.owner_of(named) if named is not None else None
            if found is not None and (found.namespace is None or principal.allows(found.namespace)):
                owner = found  # a filter naming someone else's (or no one's) entity routes as if absent
        return self.decide(tool, arguments, principal, owner)

    def decide(self, tool: LogicalTool, arguments: dict[str, Any], principal: Principal,
               owner: Owner | None = None) -> Route:
        """The synchronous part of routing (what bench/gateway_overhead.py times)."""
        if owner is not None and owner.namespace is not None and not principal.allows(owner.namespace):
            raise AccessDenied(f"{principal.user!r} may not act on namespace {owner.namespace!r} "
                               f"(granted: {', '.join(principal.namespaces) or 'none'}); "
                               "ask an admin for a token that grants it")
        namespace = namespace_of(tool.name, arguments)
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
