"""Workflow tools: start, stop, wait for and inspect workflow executions."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastmcp import Context, FastMCP
from pydantic import Field

from agents.testbed.framework.status import WorkflowMonitor
from mcp_nodes.auth import current_identity, require_namespace, require_visible, visible_namespace
from mcp_nodes.compact import untitled
from mcp_nodes.definitions_view import list_definitions
from mcp_nodes.models import DefinitionInfo, ExecutionView, WaitResult
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import (
    CONTROL, DESTRUCTIVE, READ_ONLY, Cursor, EndTime, ExecutionId, Limit, NamespaceArg, NamespaceFilter,
    Reason, StartTime,
)
from workflows.store.records import ExecutionRecord, Page

__all__ = ["register"]

_TERMINAL = frozenset({"completed", "failed", "terminated"})

WorkflowName = Annotated[str, Field(
    min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
    description="from list_workflow_definitions")]
WorkflowConfig = Annotated[str, Field(
    min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$",
    description="a config of the workflow")]
Parameters = Annotated[dict[str, bool | int | float | str] | None, Field(
    description="overrides, e.g. {'stf_count': 10}; see parameter_schema")]
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
                             parameters: Parameters = None, reason: Reason = None) -> ExecutionView:
        """Start a workflow on the namespace's testbed (start_testbed first); realtime=false
        runs in seconds. Then wait_for_execution(execution_id): do not sleep and poll."""
        identity = current_identity()
        require_namespace(identity, namespace)
        record = await manager.start_workflow(
            namespace, workflow=workflow, config=config, parameters=dict(parameters or {}),
            realtime=realtime, executed_by=identity.user, reason=reason,
        )
        if services.linker is not None:
            services.linker.execution_started(record, call_id=identity.request_id)
        return ExecutionView.of(record).model_copy(
            update={"hint": f"wait_for_execution(execution_id={record.execution_id!r})"})

    @mcp.tool(annotations=DESTRUCTIVE)
    async def stop_workflow(execution_id: ExecutionId, reason: Reason = None) -> ExecutionView:
        """Stop a running execution (ends 'terminated', its run closed)."""
        await owned_execution(execution_id)
        return ExecutionView.of(await manager.stop_workflow(execution_id, reason=reason))

    @mcp.tool(annotations=READ_ONLY)
    async def wait_for_execution(
        execution_id: ExecutionId,
        ctx: Context,
        timeout_s: Annotated[float, Field(ge=0, le=3600)] = 60.0,
    ) -> WaitResult:
        """Wait until an execution ends and its processing drains, or timeout_s passes (sends
        progress meanwhile). Use instead of sleeping; call again if finished=false."""
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
                          waited_s=round(time.monotonic() - started, 3), execution=ExecutionView.of(record),
                          hint=hint)

    @mcp.tool(annotations=READ_ONLY)
    async def list_workflow_definitions(
        namespace: NamespaceFilter = None,
        sections: Annotated[bool, Field(description="add each config section's parameter schema")] = False,
    ) -> Page[DefinitionInfo]:
        """Workflows you can start, each with its configs and parameter JSON Schema."""
        ns = visible_namespace(current_identity(), namespace)
        items = list_definitions(settings.workflows_dir, ns, every_namespace=ns is None)
        if not sections:  # 6 KB per workflow; start_workflow names the section parameters it rejects
            items = [d.model_copy(update={"section_schemas": {}, "parameter_schema": untitled(d.parameter_schema)})
                     for d in items]
        return Page[DefinitionInfo](items=items, total=len(items), has_more=False)

    @mcp.tool(annotations=READ_ONLY)
    async def list_workflow_executions(
        namespace: NamespaceFilter = None, status: ExecutionStatus = None,
        executed_by: Annotated[str | None, Field(max_length=200)] = None,
        workflow_name: Annotated[str | None, Field(max_length=100)] = None,
        currently_running: Annotated[bool | None, Field(description="only pending/running")] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 20, cursor: Cursor = None,
    ) -> Page[ExecutionView]:
        """Workflow executions, newest first."""
        ns = visible_namespace(current_identity(), namespace)
        page = await store.executions.list(
            namespace=ns, status=status, executed_by=executed_by, workflow_name=workflow_name,
            currently_running=currently_running, start_time=start_time, end_time=end_time,
            limit=limit, cursor=cursor,
        )
        return Page[ExecutionView](items=[ExecutionView.of(r) for r in page.items], total=page.total,
                                   total_is_lower_bound=page.total_is_lower_bound, has_more=page.has_more,
                                   next_cursor=page.next_cursor)

    @mcp.tool(annotations=READ_ONLY)
    async def get_workflow_execution(
        execution_id: ExecutionId,
        include_config: Annotated[bool, Field(description="add the expanded config and every parameter")] = False,
    ) -> ExecutionView:
        """One execution: status, phase, run, STF count, times, error, your overrides."""
        view = ExecutionView.of(await owned_execution(execution_id), include_config=include_config)
        if include_config:
            return view
        return view.model_copy(update={"hint": "config and all parameters: include_config=true; "
                                               "counts: get_workflow_monitor"})

    @mcp.tool(annotations=READ_ONLY)
    async def get_workflow_monitor(execution_id: ExecutionId) -> WorkflowMonitor:
        """Live view of an execution: phase, STF/slice counts by status, events, errors, latency."""
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
