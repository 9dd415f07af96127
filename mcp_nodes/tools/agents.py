"""Agent tools: list and inspect the testbed agents, restart or kill one."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from mcp_nodes.auth import current_identity, require_visible, visible_namespace
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.params import (
    CONTROL, DESTRUCTIVE, READ_ONLY, Cursor, EndTime, Limit, NamespaceFilter, Reason, StartTime,
)
from workflows.store.records import AgentRecord, Page

__all__ = ["register"]

AgentName = Annotated[str, Field(
    min_length=1, max_length=200, description="agent name from list_agents, e.g. 'worker-agent-alice-3'")]
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
        execution_id: Annotated[str | None, Field(max_length=200, description="only agents working on this execution")] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 50, cursor: Cursor = None,
    ) -> Page[AgentRecord]:
        """Testbed agents with status, last heartbeat, pid, restarts; filtered and paginated."""
        ns = visible_namespace(current_identity(), namespace)
        return await store.agents.list_agents(
            namespace=ns, agent_type=agent_type, status=status, execution_id=execution_id,
            start_time=start_time, end_time=end_time, limit=limit, cursor=cursor,
        )

    @mcp.tool(annotations=READ_ONLY)
    async def get_agent(name: AgentName) -> AgentRecord:
        """One agent: type, status, last heartbeat, pid, host, mode, restarts, current execution."""
        return await owned_agent(name)

    @mcp.tool(annotations=CONTROL)
    async def restart_agent(name: AgentName, reason: Reason = None) -> AgentRecord:
        """Stop and start one agent (same name); use when an agent is stuck or EXITED."""
        await owned_agent(name)
        return await manager.restart_agent(name, reason=reason)

    @mcp.tool(annotations=DESTRUCTIVE)
    async def kill_agent(name: AgentName, reason: Reason = None) -> AgentRecord:
        """Kill one agent (SIGKILL in process mode; task cancel in-process), e.g. to test failure
        handling. It stays down, marked EXITED, and the testbed reports not ready until
        restart_agent(name) brings it back. (An agent that crashes by itself is restarted with
        backoff by the node's supervisor.)"""
        await owned_agent(name)
        result = await manager.kill_agent(name, reason=reason)
        return result if result is not None else await store.agents.get_agent(name)
