"""Run and data tools: runs, STF files and TF slices."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from mcp_nodes.auth import current_identity, require_visible, visible_namespace
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import READ_ONLY, Cursor, EndTime, Limit, NamespaceFilter, StartTime
from mcp_nodes.models import SliceLine
from workflows.store.records import Page, RunRecord, SliceRecord, StfFileRecord

__all__ = ["register"]

RunNumber = Annotated[int, Field(ge=1, le=2**62, description="e.g. 100010")]
ExecutionFilter = Annotated[str | None, Field(max_length=200)]
RunFilter = Annotated[int | None, Field(ge=1, le=2**62)]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add the run, STF file and TF slice tools to ``mcp``."""
    store = services.store

    def check(namespace: str, kind: str, key: object) -> None:
        require_visible(current_identity(), namespace, kind, key)

    @mcp.tool(annotations=READ_ONLY)
    async def list_runs(
        namespace: NamespaceFilter = None, execution_id: ExecutionFilter = None,
        status: Annotated[str | None, Field(pattern=r"^(running|ended)$", description="running | ended")] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 20, cursor: Cursor = None,
    ) -> Page[RunRecord]:
        """Data-taking runs, newest first."""
        ns = visible_namespace(current_identity(), namespace)
        return await store.runs.list_runs(namespace=ns, execution_id=execution_id, status=status,
                                          start_time=start_time, end_time=end_time, limit=limit, cursor=cursor)

    @mcp.tool(annotations=READ_ONLY)
    async def get_run(run_number: RunNumber) -> RunRecord:
        """One data-taking run by number."""
        record = await store.runs.get_run(run_number)
        check(record.namespace, "run", run_number)
        return record

    @mcp.tool(annotations=READ_ONLY)
    async def list_stf_files(
        namespace: NamespaceFilter = None, execution_id: ExecutionFilter = None, run_number: RunFilter = None,
        status: Annotated[str | None, Field(pattern=r"^(registered|ready|processed|failed)$",
                                            description="registered | ready | processed | failed")] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 20, cursor: Cursor = None,
    ) -> Page[StfFileRecord]:
        """Super time frame (STF) files, newest first."""
        ns = visible_namespace(current_identity(), namespace)
        return await store.runs.list_stf(namespace=ns, execution_id=execution_id, run_number=run_number,
                                         status=status, start_time=start_time, end_time=end_time,
                                         limit=limit, cursor=cursor)

    @mcp.tool(annotations=READ_ONLY)
    async def get_stf_file(filename: Annotated[str, Field(
            min_length=1, max_length=300, description="STF filename, e.g. 'swf.100010.000001.stf'")]) -> StfFileRecord:
        """One STF file by filename."""
        record = await store.runs.get_stf(filename)
        check(record.namespace, "STF file", filename)
        return record

    @mcp.tool(annotations=READ_ONLY)
    async def list_tf_slices(
        namespace: NamespaceFilter = None, execution_id: ExecutionFilter = None, run_number: RunFilter = None,
        tf_filename: Annotated[str | None, Field(max_length=300)] = None,
        status: Annotated[str | None, Field(pattern=r"^(queued|processing|done|failed)$",
                                            description="queued | processing | done | failed")] = None,
        worker: Annotated[str | None, Field(max_length=200)] = None,
        limit: Limit = 20, cursor: Cursor = None,
    ) -> Page[SliceLine]:
        """TF slices handed to workers (status, worker, retries, error), newest first."""
        ns = visible_namespace(current_identity(), namespace)
        page = await store.runs.list_slices(namespace=ns, execution_id=execution_id, run_number=run_number,
                                            tf_filename=tf_filename, status=status, worker=worker,
                                            limit=limit, cursor=cursor)
        return Page[SliceLine](items=[SliceLine.model_validate(s) for s in page.items], total=page.total,
                               total_is_lower_bound=page.total_is_lower_bound, has_more=page.has_more,
                               next_cursor=page.next_cursor)

    @mcp.tool(annotations=READ_ONLY)
    async def get_tf_slice(
        tf_filename: Annotated[str, Field(min_length=1, max_length=300, description="from list_tf_slices")],
        slice_id: Annotated[int, Field(ge=0, le=1_000_000)],
    ) -> SliceRecord:
        """One TF slice with its timings and result."""
        record = await store.runs.get_slice(tf_filename, slice_id)
        check(record.namespace, "TF slice", f"{tf_filename}#{slice_id}")
        return record
