"""Statistics tool: ``get_execution_statistics``, the characterization of one execution.

Computed in SQL by the store (:mod:`workflows.store.statistics`) from the slices' request, start
and finish times, the DAQ state events and a task workflow's summary message: slice latency
p50/p90/p99 and a log-binned histogram, queue wait, per-worker processing time, time per DAQ
phase, retries and failures, wall vs. summed task compute. Bounded: at most 32 histogram bins,
20 workers and 30 completion bins: about 4,000 characters of JSON with 20 workers listed (at
most 5,000). The definition is kept short (the execution_id argument has no description: every
execution tool names it), since all tool definitions share one budget
(tests/mcp_nodes/test_context_size.py).
"""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from mcp_nodes.auth import current_identity, require_visible
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import READ_ONLY
from workflows.store.records import ExecutionStatistics

__all__ = ["register"]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add get_execution_statistics to ``mcp``."""
    store = services.store

    @mcp.tool(annotations=READ_ONLY)
    async def get_execution_statistics(execution_id: Annotated[str, Field(min_length=1, max_length=200)]
                                       ) -> ExecutionStatistics:
        """Run statistics: slice latency percentiles + histogram, queue wait, per-worker time,
        DAQ phases, retries, task wall/compute."""
        record = await store.executions.get(execution_id)
        require_visible(current_identity(), record.namespace, "execution", execution_id)
        return await store.statistics.of_execution(execution_id)
