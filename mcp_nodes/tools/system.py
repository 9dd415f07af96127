"""Namespace and system tools: the one-call overview, namespaces, housekeeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastmcp import FastMCP
from pydantic import AfterValidator, Field

from mcp_nodes.auth import current_identity, require_namespace, visible_namespace
from mcp_nodes.errors import BadArgument, Forbidden
from mcp_nodes.models import ExecutionView, NodeHealth, PruneResult, SystemState
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import DESTRUCTIVE, READ_ONLY, NamespaceArg, NamespaceFilter
from mcp_nodes.version import node_version
from workflows.store.records import NamespaceRecord, Page

__all__ = ["register"]


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add get_system_state, list_namespaces, get_namespace and prune to ``mcp``."""
    store, manager, settings = services.store, services.manager, services.settings

    @mcp.tool(annotations=READ_ONLY)
    async def get_system_state(namespace: NamespaceFilter = None) -> SystemState:
        """START HERE: node health, testbeds, running executions, recent errors."""
        ns = visible_namespace(current_identity(), namespace)
        names = [n for n in manager.namespaces() if ns is None or n == ns]
        testbeds = [await manager.testbed_status(n) for n in names]
        running = await store.executions.list(namespace=ns, currently_running=True, limit=50)
        errors = await store.logs.list_logs(namespace=ns, min_level=40, limit=10)
        recent = [{"id": e.id, "created_at": e.created_at.isoformat(), "agent": e.agent,
                   "execution_id": e.execution_id, "message": e.message[:300]} for e in errors.items]
        if not testbeds:
            hint = "no testbed runs here; call start_testbed(namespace) first"
        elif running.items:
            hint = "executions are running; wait_for_execution(execution_id) follows one to its end"
        else:
            hint = "testbeds are up; start_workflow(namespace) runs a workflow"
        url = settings.resolved_database_url()
        return SystemState(
            node=NodeHealth(name=settings.name, version=node_version(),
                            mode="process" if settings.bus == "stomp" else "inprocess", bus=settings.bus,
                            uptime_s=round(time.monotonic() - services.started_monotonic, 3),
                            database=url.split("+", 1)[0].split(":", 1)[0]),
            testbeds=testbeds, running_executions=[ExecutionView.of(r) for r in running.items], recent_errors=recent, hint=hint,
        )

    @mcp.tool(annotations=READ_ONLY)
    async def list_namespaces() -> Page[NamespaceRecord]:
        """Your namespaces on this node, with execution and agent counts."""
        identity = current_identity()
        items = [r for r in await store.namespaces.list() if identity.allows(r.name)]
        return Page[NamespaceRecord](items=items, total=len(items), has_more=False)

    @mcp.tool(annotations=READ_ONLY)
    async def get_namespace(name: NamespaceArg) -> NamespaceRecord:
        """One namespace with its counts."""
        require_namespace(current_identity(), name)
        return await store.namespaces.get(name)

    @mcp.tool(annotations=DESTRUCTIVE)
    async def prune(
        older_than: Annotated[datetime, AfterValidator(_aware), Field(
            description="ISO-8601, e.g. '2026-11-01T00:00:00Z'")],
    ) -> PruneResult:
        """Admin: permanently delete messages, logs and finished executions older than
        older_than (running ones are kept). No undo."""
        identity = current_identity()
        if "*" not in identity.namespaces:
            raise Forbidden("*", identity.namespaces)
        if older_than > datetime.now(UTC):
            raise BadArgument("older_than", "is in the future, which would delete everything",
                              "pass a past time, e.g. 30 days ago")
        deleted = await store.prune(older_than)
        return PruneResult(older_than=older_than, deleted=deleted.model_dump())
