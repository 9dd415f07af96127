"""Agent tools: list and inspect the testbed agents, restart or kill one."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from mcp_nodes.auth import current_identity, require_visible, visible_namespace
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import (
    CONTROL, DESTRUCTIVE, READ_ONLY, Cursor, EndTime, Limit, NamespaceFilter, Reason, StartTime,
)
from mcp_nodes.models import AgentLine
from workflows.store.records import AgentRecord, Page

__all__ = ["register"]

AgentName = Annotated[str, Field(
    min_length=1, max_length=200, description="e.g. 'worker-agent-alice-3'")]
AgentStatus = Annotated[str | None, Field(
    pattern=r"^(STARTING|READY|PROCESSING|EXITED)$", description="STARTING | READY | PROCESSING | EXITED")]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add list_agents, get_agent, restart_agent and kill_agent to ``mcp``."""
    manager, store = services.manager, services.store

    async def owned_agent(name: str) -> AgentRecord:
        record = await store.agents.get_agent(name)
        require_visible(current_identity(), record.namespace, "agent", name)
        return record

    @mcp.tool(annotations=READ_ONLY)
    async def list_agents(
        namespace: NamespaceFilter = None,
        agent_type: Annotated[str | None, Field(max_length=50, description="e.g. daq, data, processing, fastmon, fast_processing, worker")] = None,
        status: AgentStatus = None,
        execution_id: Annotated[str | None, Field(max_length=200)] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 20, cursor: Cursor = None,
    ) -> Page[AgentLine]:
        """Testbed agents: status, heartbeat, restarts, current execution."""
        ns = visible_namespace(current_identity(), namespace)
        page = await store.agents.list_agents(
            namespace=ns, agent_type=agent_type, status=status, execution_id=execution_id,
            start_time=start_time, end_time=end_time, limit=limit, cursor=cursor,
        )
        return Page[AgentLine](items=[AgentLine.model_validate(a) for a in page.items], total=page.total,
                               total_is_lower_bound=page.total_is_lower_bound, has_more=page.has_more,
                               next_cursor=page.next_cursor)

    @mcp.tool(annotations=READ_ONLY)
    async def get_agent(name: AgentName) -> AgentRecord:
        """One agent by name, all fields (pid, host, mode, detail)."""
        return await owned_agent(name)

    @mcp.tool(annotations=CONTROL)
    async def restart_agent(name: AgentName, reason: Reason = None) -> AgentRecord:
        """Restart one agent (same name), e.g. when it is stuck or EXITED."""
        await owned_agent(name)
        return await manager.restart_agent(name, reason=reason)

    @mcp.tool(annotations=DESTRUCTIVE)
    async def kill_agent(name: AgentName, reason: Reason = None) -> AgentRecord:
        """Kill one agent, e.g. to test failure handling: it stays EXITED (testbed not ready)
        until restart_agent."""
        await owned_agent(name)
        result = await manager.kill_agent(name, reason=reason)
        return result if result is not None else await store.agents.get_agent(name)
