"""Pydantic models at the gateway's boundaries: principals, node views, routes, call records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from mcp_gateway.errors import Outcome
from mcp_nodes.contract.scopes import DEFAULT_SCOPES, NODE_SCOPE, SCOPES

NodeHealth = Literal["up", "down", "gone"]
RouteReason = Literal["explicit", "entity", "namespace", "labels", "least_loaded"]
Era = Literal["2025-11-25", "2026-07-28"]


class Principal(BaseModel):
    """Who a bearer token stands for: namespaces (where) and scopes (what; mcp_nodes.contract.scopes).

    Tokens stored before scopes existed carry no capability scope: they are read as
    ``read,operate``, plus ``admin`` when their namespaces are ``["*"]`` (docs/security.md). A
    node token (scope ``node`` alone) has no capability: it may only register its node. The
    ``admin`` scope implies every namespace (``namespaces`` becomes ``["*"]``).
    """

    user: str
    namespaces: list[str] = Field(default_factory=list, description='granted namespaces; "*" = all')
    labels: dict[str, str] = Field(default_factory=dict, description="preferred node labels")
    scopes: list[str] = Field(default_factory=list, description='read|operate|author|admin; "node" registers nodes')

    @model_validator(mode="after")
    def _capabilities(self) -> Principal:
        if not any(scope in SCOPES for scope in self.scopes) and NODE_SCOPE not in self.scopes:
            self.scopes = [*DEFAULT_SCOPES, *(["admin"] if "*" in self.namespaces else []), *self.scopes]
        if "admin" in self.scopes and self.namespaces != ["*"]:
            self.namespaces = ["*"]
        return self

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def allows(self, namespace: str) -> bool:
        """True when ``namespace`` is granted."""
        return "*" in self.namespaces or namespace in self.namespaces


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
    client: str | None = Field(default=None, description="clientInfo name, as CLAIMED by the client (unverified)")
    client_version: str | None = Field(default=None, description="clientInfo version, as claimed by the client")
    client_claimed: bool = Field(default=True, description="client/client_version came from the client, unverified")
    era: Era | None = None
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict, description="as the client sent them; observers redact")
    arguments_sha256: str
    namespace: str | None = None
    node: str | None = None
    reason: RouteReason | None = None
    outcome: Outcome
    error: str | None = None
