"""Testbed tools: start, stop and check the set of agents serving a namespace."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from agents.testbed.framework.status import TestbedStatus
from mcp_nodes.auth import current_identity, require_namespace
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import CONTROL, DESTRUCTIVE, READ_ONLY, NamespaceArg, Reason

__all__ = ["register"]

ConfigName = Annotated[str, Field(
    min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$",
    description="a testbed config ('testbed') or the workflow config you will run ('fast_processing_default'); "
                "the result's config_kind says which")]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add start_testbed, stop_testbed and get_testbed_status to ``mcp``."""
    manager = services.manager

    @mcp.tool(annotations=CONTROL)
    async def start_testbed(namespace: NamespaceArg, config: ConfigName = "testbed",
                            reason: Reason = None) -> TestbedStatus:
        """Start a namespace's testbed (its agents); call FIRST, before start_workflow.
        Already running: its status with already_running=true. ready=false: get_testbed_status."""
        identity = current_identity()
        require_namespace(identity, namespace)
        return await manager.start_testbed(namespace, config, started_by=identity.user, reason=reason)

    @mcp.tool(annotations=DESTRUCTIVE)
    async def stop_testbed(namespace: NamespaceArg, reason: Reason = None) -> TestbedStatus:
        """Stop a namespace's testbed: terminates its executions, stops its agents."""
        require_namespace(current_identity(), namespace)
        return await manager.stop_testbed(namespace, reason=reason)

    @mcp.tool(annotations=READ_ONLY)
    async def get_testbed_status(namespace: NamespaceArg) -> TestbedStatus:
        """A namespace's testbed and agents; ready=true when every agent is READY."""
        require_namespace(current_identity(), namespace)
        return await manager.testbed_status(namespace)
