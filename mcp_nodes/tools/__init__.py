"""The node's MCP tools, one module per subject; `register_all` adds them to a FastMCP server."""

from __future__ import annotations

from fastmcp import FastMCP

from mcp_nodes.services import NodeServices
from mcp_nodes.tools import agents, data, logs, messages, statistics, system, testbed, timeline, workflows

__all__ = ["register_all"]


def register_all(mcp: FastMCP, services: NodeServices) -> None:
    """Register every node tool on ``mcp``, in the order an LLM should meet them."""
    for module in (system, testbed, workflows, agents, messages, data, logs, timeline, statistics):
        module.register(mcp, services)
