"""The node registry: who is registered, their lease and health, their namespaces and tools.

In memory for the hot path (routing reads it per call), written through to `RegistryStore`
so a restarted gateway reloads it. A node whose lease lapses is probed and marked down by
`mcp_gateway.health`; a heartbeat or registration brings it back up.

Replicas sharing one database see each other's nodes: `follow` re-reads the node rows every
heartbeat period and `refresh` merges them (a node registered through another replica appears,
a heartbeat it received renews the lease here, a health change it wrote applies here); the
router also refreshes once on a routing miss, so a node registered a moment ago through another
replica is found without waiting for the next period.

A node may hold only the namespaces its node token grants (``controlroom token create --user
NODE --node --namespaces a,b``; ``"*"`` = any, written explicitly by whoever creates the
token): a registration or heartbeat claiming more is refused, and the router picks a node for a
namespace only among the nodes that may hold it (`NodeState.serves`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio

from mcp_gateway.tool_catalog import LogicalTool, build_catalog
from mcp_gateway.errors import AccessDenied, UnknownNode
from mcp_gateway.models import NodeHealth, NodeView, Principal
from mcp_gateway.registry_store import RegistryStore, StoredNode, info_digest
from mcp_nodes.contract.registration import Heartbeat, NodeInfo, RegistrationAccepted

log = logging.getLogger(__name__)

BACKGROUND_QUERY_S = 10.0
"""Longest a background read of the node rows may take before it is given up."""


@dataclass(slots=True)
class NodeState:
    """A registered node as the gateway tracks it."""

    info: NodeInfo
    health: NodeHealth = "up"
    load: float = 0.0
    namespaces: list[str] = field(default_factory=list)
    last_heartbeat: datetime | None = None
    beat_monotonic: float = 0.0
    down_since: datetime | None = None
    allowed: list[str] = field(default_factory=list)
    """Namespaces the node's token lets it hold ("*" = any); from the token it last presented."""

    @property
    def name(self) -> str:
        return self.info.name

    def serves(self, namespace: str) -> bool:
        """True when the node's token lets it hold ``namespace``."""
        return "*" in self.allowed or namespace in self.allowed

    def view(self, breaker: str = "closed") -> NodeView:
        return NodeView(
            name=self.name, url=self.info.url, health=self.health, labels=self.info.labels,
            namespaces=self.namespaces, version=self.info.version, load=self.load,
            tools=sorted(str(t.get("name")) for t in self.info.tools),
            last_heartbeat=self.last_heartbeat, down_since=self.down_since, breaker=breaker,  # type: ignore[arg-type]
        )


def _may_act_as(principal: Principal, node: str) -> None:
    if "node" not in principal.scopes:
        raise AccessDenied(f"token of {principal.user!r} lacks the 'node' scope; create a node token "
                           "with `controlroom token create --user NODE_NAME --node`")
    if principal.user != node and not principal.is_admin:
        raise AccessDenied(f"node token of {principal.user!r} cannot act for node {node!r}; "
                           "the node name must equal the token's user")


def _may_hold(principal: Principal, node: str, namespaces: list[str]) -> None:
    extra = sorted(n for n in set(namespaces) if not principal.allows(n))
    if extra:
        granted = ", ".join(principal.namespaces) or "none"
        raise AccessDenied(f"node {node!r} claims namespace(s) {', '.join(extra)} but its node token grants only "
                           f"{granted}; stop those testbeds on the node, or have an admin create a node token "
                           f"that grants them: controlroom token create --user {principal.user} --node "
                           f"--namespaces {','.join(sorted(set(principal.namespaces) | set(extra)))}")


class Registry:
    """Registered nodes, their namespaces, and the logical tool catalog built from them."""

    def __init__(self, store: RegistryStore, lease_s: float, heartbeat_s: float,
                 jwks: Callable[[], dict[str, Any]] | None = None,
                 fresh_jwks: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> None:
        self._store = store
        self.jwks = jwks or (lambda: {"keys": []})
        """The gateway's public identity keys, sent with every registration and heartbeat answer."""
        self.fresh_jwks = fresh_jwks
        """The same keys re-read from the database first (``GET /nodes/jwks``), when replicas share one."""
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s
        self.nodes: dict[str, NodeState] = {}
        self.catalog: dict[str, LogicalTool] = {}
        self.by_namespace: dict[str, list[str]] = {}
        self._listeners: list[Callable[[NodeState], None]] = []
        self._lock = anyio.Lock()  # a refresh never interleaves with this replica's own writes
        self._digests: dict[str, str | None] = {}  # node -> info_sha256 of the info held here

    def on_change(self, listener: Callable[[NodeState], None]) -> None:
        """Call ``listener(node)`` after a node registers, changes health or leaves."""
        self._listeners.append(listener)

    async def load(self) -> None:
        """Reload from SQL; reloaded nodes start a fresh lease (they keep heartbeating)."""
        now = time.monotonic()
        async with self._lock:
            for stored in await self._store.load_nodes():
                self.nodes[stored.info.name] = self._state_of(stored, now)
                self._digests[stored.info.name] = stored.info_sha256
            self._rebuild()

    @staticmethod
    def _state_of(stored: StoredNode, beat_monotonic: float) -> NodeState:
        return NodeState(
            info=stored.info, health=stored.health, load=stored.load,
            namespaces=list(stored.info.namespaces), last_heartbeat=stored.last_heartbeat,
            beat_monotonic=beat_monotonic, down_since=stored.down_since,
            allowed=list(stored.info.namespaces))  # checked when stored; the next heartbeat's token widens it

    async def refresh(self) -> bool:
        """Merge what other replicas wrote to the node rows; True when something changed here.

        Reads every row without its info (one SELECT), then the info of only the nodes that are new
        here or whose info digest changed (a second SELECT, usually skipped).
        """
        async with self._lock:
            heads = await self._store.load_node_heads()
            stale = [h.name for h in heads if h.name not in self.nodes or h.info_sha256 != self._digests.get(h.name)]
            infos = {stored.info.name: stored for stored in await self._store.load_nodes(stale)} if stale else {}
            now = time.monotonic()
            changed: list[NodeState] = []
            for head in heads:
                stored = infos.get(head.name)
                state = self.nodes.get(head.name)
                if state is None:
                    if stored is not None:  # (None: deleted between the two reads)
                        self.nodes[head.name] = self._state_of(stored, now)
                        self._digests[head.name] = stored.info_sha256
                        changed.append(self.nodes[head.name])
                    continue
                if head.last_heartbeat is not None and (state.last_heartbeat is None
                                                        or head.last_heartbeat > state.last_heartbeat):
                    # another replica received a heartbeat: the node's lease is renewed here too
                    state.last_heartbeat, state.beat_monotonic, state.load = head.last_heartbeat, now, head.load
                if stored is not None:
                    self._digests[head.name] = stored.info_sha256
                    if stored.info != state.info:
                        state.info, state.namespaces = stored.info, list(stored.info.namespaces)
                        if "*" not in state.allowed:  # the replica that stored them checked them against the token
                            state.allowed = sorted(set(state.allowed) | set(stored.info.namespaces))
                        changed.append(state)
                if (head.health, head.down_since) != (state.health, state.down_since):
                    state.health, state.down_since = head.health, head.down_since
                    changed.append(state)
            if changed:
                self._rebuild()
        for state in {id(state): state for state in changed}.values():
            self._changed(state)
        return bool(changed)

    async def follow(self) -> None:
        """`refresh` every heartbeat period until cancelled (run it in the gateway's lifespan)."""
        while True:
            await anyio.sleep(self.heartbeat_s)
            try:
                # shielded: a shutdown waits for the read to finish instead of cancelling it halfway
                # (a query cancelled mid-flight can leave the driver's connection for the loop to hang on)
                with anyio.move_on_after(BACKGROUND_QUERY_S, shield=True):
                    await self.refresh()
            except Exception:
                log.exception("could not reload the node registry from the database")

    def _rebuild(self) -> None:
        self.catalog = build_catalog(state.info for state in self.nodes.values())
        index: dict[str, list[str]] = {}
        for state in self.nodes.values():
            if state.health == "gone":
                continue
            for namespace in state.namespaces:
                index.setdefault(namespace, []).append(state.name)
        self.by_namespace = index

    def _changed(self, state: NodeState) -> None:
        for listener in self._listeners:
            listener(state)

    async def current_jwks(self) -> dict[str, Any]:
        """`jwks`, re-read first when the gateway shares its database with other replicas."""
        return await self.fresh_jwks() if self.fresh_jwks is not None else self.jwks()

    def accepted(self, name: str) -> RegistrationAccepted:
        return RegistrationAccepted(name=name, lease_s=self.lease_s, heartbeat_s=self.heartbeat_s, jwks=self.jwks())

    async def register(self, info: NodeInfo, principal: Principal) -> RegistrationAccepted:
        _may_act_as(principal, info.name)
        _may_hold(principal, info.name, info.namespaces)
        now = datetime.now(UTC)
        state = NodeState(info=info, namespaces=list(info.namespaces), last_heartbeat=now,
                          beat_monotonic=time.monotonic(), allowed=list(principal.namespaces))
        async with self._lock:
            await self._store.save_node(info, "up", 0.0, now, None)
            self.nodes[info.name] = state
            self._digests[info.name] = info_digest(info.model_dump(mode="json"))
            self._rebuild()
        self._changed(state)
        return self.accepted(info.name)

    async def heartbeat(self, beat: Heartbeat, principal: Principal) -> RegistrationAccepted:
        _may_act_as(principal, beat.name)
        if beat.name not in self.nodes:
            await self.refresh()  # registered through another replica a moment ago?
        async with self._lock:
            state = self.nodes.get(beat.name)
            if state is None or state.health == "gone":
                raise UnknownNode(f"node {beat.name!r} is not registered; POST /nodes/register first")
            _may_hold(principal, beat.name, beat.namespaces if beat.namespaces is not None else state.namespaces)
            now = datetime.now(UTC)
            came_back = state.health != "up"
            namespaces_changed = beat.namespaces is not None and beat.namespaces != state.namespaces
            values: dict[str, Any] = {}
            if namespaces_changed:
                # stored in the row's info too: a restart or another replica reads the namespaces from there
                values["info"] = state.info.model_copy(update={"namespaces": list(beat.namespaces or [])})
            await self._store.update_node(beat.name, health="up", load=beat.load, last_heartbeat=now, down_since=None,
                                          **{k: v.model_dump(mode="json") for k, v in values.items()})
            state.allowed = list(principal.namespaces)
            state.beat_monotonic = time.monotonic()
            state.last_heartbeat, state.load = now, beat.load
            if namespaces_changed:
                state.info, state.namespaces = values["info"], list(beat.namespaces or [])
                self._digests[beat.name] = info_digest(state.info.model_dump(mode="json"))
            state.health, state.down_since = "up", None
            if came_back or namespaces_changed:
                self._rebuild()
        if came_back or namespaces_changed:
            self._changed(state)
        return self.accepted(beat.name)

    async def deregister(self, name: str, principal: Principal) -> None:
        """Mark a node gone; its last tool schemas stay in the catalog."""
        _may_act_as(principal, name)
        if name not in self.nodes:
            await self.refresh()  # registered through another replica
        async with self._lock:
            state = self.nodes.get(name)
            if state is None:
                raise UnknownNode(f"node {name!r} is not registered")
            down_since = datetime.now(UTC)
            await self._store.update_node(name, health="gone", down_since=down_since)
            state.health, state.down_since = "gone", down_since
            self._rebuild()
        self._changed(state)

    async def mark_down(self, name: str) -> None:
        async with self._lock:
            state = self.nodes.get(name)
            if state is None or state.health != "up":
                return
            down_since = datetime.now(UTC)
            # only over an "up" row: a node another replica saw deregister stays gone (the next
            # refresh brings that here)
            if not await self._store.update_node(name, only_if_health="up", health="down", down_since=down_since):
                return
            state.health, state.down_since = "down", down_since
            self._rebuild()
        self._changed(state)

    def get(self, name: str) -> NodeState:
        state = self.nodes.get(name)
        if state is None:
            known = ", ".join(sorted(self.nodes)) or "none"
            raise UnknownNode(f"no node named {name!r} (known nodes: {known}); list_nodes shows them")
        return state

    def healthy(self) -> list[NodeState]:
        return [state for state in self.nodes.values() if state.health == "up"]
