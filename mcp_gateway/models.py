"""Pydantic models at the gateway's boundaries: principals, node views, routes, call records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_gateway.errors import Outcome

NodeHealth = Literal["up", "down", "gone"]
RouteReason = Literal["explicit", "entity", "namespace", "labels", "least_loaded"]
Era = Literal["2025-11-25", "2026-07-28"]


class Principal(BaseModel):
    """Who a bearer token stands for."""

    user: str
    namespaces: list[str] = Field(default_factory=list, description='granted namespaces; "*" = all (admin)')
    labels: dict[str, str] = Field(default_factory=dict, description="preferred node labels")
    scopes: list[str] = Field(default_factory=list, description='"node" lets the token register nodes')

    @property
    def is_admin(self) -> bool:
        return "*" in self.namespaces

    def allows(self, namespace: str) -> bool:
        """True when ``namespace`` is granted."""
        return self.is_admin or namespace in self.namespaces


class NodeView(BaseModel):
    """A node as list_nodes / get_node show it."""

    name: str
    url: str
    health: NodeHealth
    labels: dict[str, str]
    namespaces: list[str]
    version: str
    load: float
    tools: list[str]
    last_heartbeat: datetime | None
    down_since: datetime | None = None
    breaker: Literal["closed", "open", "half_open"] = "closed"


class NodeList(BaseModel):
    """A page of nodes."""

    items: list[NodeView]
    total: int
    has_more: bool = False


class WhoAmI(BaseModel):
    """The caller as the gateway sees it."""

    user: str
    namespaces: list[str]
    labels: dict[str, str]
    scopes: list[str]


class Route(BaseModel):
    """Where a call went and why; rides in the result's ``_meta['controlroom/route']``."""

    node: str
    reason: RouteReason
    namespace: str | None = None


class CallRecord(BaseModel):
    """One record per tools/call through the gateway, whatever the outcome."""

    call_id: str
    request_id: str | int | None
    started_at: datetime
    duration_ms: float
    user: str
    client: str | None = None
    client_version: str | None = None
    era: Era | None = None
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict, description="as the client sent them; observers redact")
    arguments_sha256: str
    namespace: str | None = None
    node: str | None = None
    reason: RouteReason | None = None
    outcome: Outcome
    error: str | None = None
