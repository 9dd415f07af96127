"""Workflow tools: start, stop, wait for and inspect workflow executions."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastmcp import Context, FastMCP
from pydantic import Field

from agents.testbed.status import WorkflowMonitor
from mcp_nodes.auth import current_identity, require_namespace, require_visible, visible_namespace
from mcp_nodes.definitions_view import list_definitions
from mcp_nodes.models import DefinitionInfo, WaitResult
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.params import (
    CONTROL, DESTRUCTIVE, READ_ONLY, Cursor, EndTime, ExecutionId, Limit, NamespaceArg, NamespaceFilter,
    Reason, StartTime,
)
from workflows.store.records import ExecutionRecord, Page

__all__ = ["register"]

_TERMINAL = frozenset({"completed", "failed", "terminated"})

WorkflowName = Annotated[str, Field(
    min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
    description="workflow name from list_workflow_definitions, e.g. 'stf_datataking'")]
WorkflowConfig = Annotated[str, Field(
    min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$",
    description="workflow config name, e.g. 'fast_processing_default' (see list_workflow_definitions)")]
Parameters = Annotated[dict[str, bool | int | float | str] | None, Field(
    description="parameter overrides, flat, e.g. {'stf_count': 10}; names and ranges in the definition's "
                "parameter_schema (list_workflow_definitions); unknown names are rejected")]
ExecutionStatus = Annotated[str | None, Field(
    pattern=r"^(pending|running|completed|failed|terminated)$",
    description="pending | running | completed | failed | terminated")]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add the workflow tools to ``mcp``."""
    manager, store, settings = services.manager, services.store, services.settings

    async def owned_execution(execution_id: str) -> ExecutionRecord:
        record = await store.executions.get(execution_id)
        require_visible(current_identity(), record.namespace, "execution", execution_id)
        return record

    @mcp.tool(annotations=CONTROL)
    async def start_workflow(namespace: NamespaceArg, workflow: WorkflowName = "stf_datataking",
                             config: WorkflowConfig = "fast_processing_default", realtime: bool = False,
                             parameters: Parameters = None, reason: Reason = None) -> ExecutionRecord:
        """Start a workflow execution on the namespace's running testbed (start_testbed first).

        Parameters are validated before anything is stored; a rejected call changes nothing.
        realtime=false runs as fast as possible (seconds); realtime=true follows the simulated
        clock. Returns the execution record: keep its execution_id, then call
        wait_for_execution(execution_id) — do NOT sleep and poll.
        """
        identity = current_identity()
        require_namespace(identity, namespace)
        record = await manager.start_workflow(
            namespace, workflow=workflow, config=config, parameters=dict(parameters or {}),
            realtime=realtime, executed_by=identity.user, reason=reason,
        )
        if services.linker is not None:
            services.linker.execution_started(record, call_id=identity.request_id)
        return record

    @mcp.tool(annotations=DESTRUCTIVE)
    async def stop_workflow(execution_id: ExecutionId, reason: Reason = None) -> ExecutionRecord:
        """Stop a running execution: the DAQ broadcasts end_run, the run is closed and the
        execution ends as 'terminated' (nothing stays running). No-op on an ended execution."""
        await owned_execution(execution_id)
        return await manager.stop_workflow(execution_id, reason=reason)

    @mcp.tool(annotations=READ_ONLY)
    async def wait_for_execution(
        execution_id: ExecutionId,
        ctx: Context,
        timeout_s: Annotated[float, Field(ge=0, le=3600, description="give up after this many seconds (max 3600)")] = 60.0,
    ) -> WaitResult:
        """Wait until an execution ends (completed, failed or terminated, with its processing
        drained) or timeout_s passes, sending progress notifications meanwhile. Use this
        instead of sleeping; call it again if finished=false."""
        await owned_execution(execution_id)
        started = time.monotonic()

        async def on_progress(progress: Any) -> None:
            elapsed = time.monotonic() - started
            await ctx.report_progress(progress=round(min(elapsed, timeout_s), 3), total=timeout_s,
                                      message=_describe(progress))

        record = await manager.wait_for_execution(execution_id, timeout_s, on_progress=on_progress)
        progress = await manager.progress(execution_id)
        record = await store.executions.get(execution_id)
        ended = record.status in _TERMINAL
        drained = ended and progress.drained
        outstanding = {} if drained else _outstanding(progress)
        if drained:
            hint = ("done; get_workflow_monitor shows counts and latency" if record.status == "completed"
                    else "ended badly; get_workflow_monitor and list_logs(execution_id=..., level='ERROR') show why")
        elif ended:
            left = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in outstanding.items()) or "results not yet booked"
            hint = (f"the execution is {record.status} but its processing has not drained ({left}); "
                    "call wait_for_execution again (get_workflow_monitor shows the workers)")
        else:
            hint = "still running; call wait_for_execution again or stop_workflow"
        return WaitResult(finished=drained, drained=drained, outstanding=outstanding,
                          waited_s=round(time.monotonic() - started, 3), execution=record, hint=hint)

    @mcp.tool(annotations=READ_ONLY)
    async def list_workflow_definitions(namespace: NamespaceFilter = None) -> Page[DefinitionInfo]:
        """Workflows this node can run for the namespace: the built-ins (namespace null) and the
        namespace's own registered ones, each with its parameter JSON Schema and usable configs."""
        ns = visible_namespace(current_identity(), namespace)
        items = list_definitions(settings.workflows_dir, ns, every_namespace=ns is None)
        return Page[DefinitionInfo](items=items, total=len(items), has_more=False)

    @mcp.tool(annotations=READ_ONLY)
    async def list_workflow_executions(
        namespace: NamespaceFilter = None, status: ExecutionStatus = None,
        executed_by: Annotated[str | None, Field(max_length=200, description="only executions started by this user")] = None,
        workflow_name: Annotated[str | None, Field(max_length=100, description="only this workflow")] = None,
        currently_running: Annotated[bool | None, Field(description="true: only pending/running ones")] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 50, cursor: Cursor = None,
    ) -> Page[ExecutionRecord]:
        """Workflow executions, newest first, filtered; paginated (items, total, has_more, next_cursor)."""
        ns = visible_namespace(current_identity(), namespace)
        return await store.executions.list(
            namespace=ns, status=status, executed_by=executed_by, workflow_name=workflow_name,
            currently_running=currently_running, start_time=start_time, end_time=end_time,
            limit=limit, cursor=cursor,
        )

    @mcp.tool(annotations=READ_ONLY)
    async def get_workflow_execution(execution_id: ExecutionId) -> ExecutionRecord:
        """One execution: status, phase, run number, STF count, parameters, config, times, error."""
        return await owned_execution(execution_id)

    @mcp.tool(annotations=READ_ONLY)
    async def get_workflow_monitor(execution_id: ExecutionId) -> WorkflowMonitor:
        """Live view of an execution: status, DAQ phase, run, STF/TF/slice counts by status,
        recent events, errors, duration and slice latency p50/p99."""
        await owned_execution(execution_id)
        return await manager.monitor(execution_id)


def _outstanding(progress: Any) -> dict[str, int]:
    """What is still in flight: slices queued and processing (only the non-zero counts)."""
    slices = progress.slices or {}
    counts = {"slices_queued": slices.get("queued", 0), "slices_processing": slices.get("processing", 0)}
    return {k: v for k, v in counts.items() if v}


def _describe(progress: Any) -> str:
    """A one-line progress message from the manager's progress object."""
    data = progress.model_dump() if hasattr(progress, "model_dump") else dict(getattr(progress, "__dict__", {}))
    keys = ("status", "phase", "stf_done", "stf_count", "slices_done", "slices_total", "message")
    parts = [f"{key}={data[key]}" for key in keys if data.get(key) is not None]
    return " ".join(parts) or str(progress)
