"""Testbed tools: start, stop and check the set of agents serving a namespace."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from agents.testbed.status import TestbedStatus
from mcp_nodes.auth import current_identity, require_namespace
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.params import CONTROL, DESTRUCTIVE, READ_ONLY, NamespaceArg, Reason

__all__ = ["register"]

ConfigName = Annotated[str, Field(
    min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$",
    description="testbed config name in the node's workflows directory (with or without .toml); default 'testbed'")]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add start_testbed, stop_testbed and get_testbed_status to ``mcp``."""
    manager = services.manager

    @mcp.tool(annotations=CONTROL)
    async def start_testbed(namespace: NamespaceArg, config: ConfigName = "testbed",
                            reason: Reason = None) -> TestbedStatus:
        """Start the testbed (the persistent agents the config enables) for a namespace.

        Call this FIRST, before start_workflow. If a testbed already runs for the namespace
        nothing is started twice: you get its status with already_running=true. The returned
        status has ready=true only when every agent heart-beats READY; if it is not ready yet,
        call get_testbed_status again (agents become ready within a second or two).
        """
        identity = current_identity()
        require_namespace(identity, namespace)
        return await manager.start_testbed(namespace, config, started_by=identity.user, reason=reason)

    @mcp.tool(annotations=DESTRUCTIVE)
    async def stop_testbed(namespace: NamespaceArg, reason: Reason = None) -> TestbedStatus:
        """Stop the testbed of a namespace: terminates its running executions (each run is
        ended and closed), stops every agent. Use when you are done or to reset a broken testbed."""
        require_namespace(current_identity(), namespace)
        return await manager.stop_testbed(namespace, reason=reason)

    @mcp.tool(annotations=READ_ONLY)
    async def get_testbed_status(namespace: NamespaceArg) -> TestbedStatus:
        """Status of a namespace's testbed: state, each agent with its last heartbeat, and
        ready=true only when every agent heart-beats READY (then start_workflow can run)."""
        require_namespace(current_identity(), namespace)
        return await manager.testbed_status(namespace)
