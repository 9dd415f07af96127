"""The node's own scope check: a node never trusts the gateway blindly.

`CapabilityCheck` reads the scopes of the identity the node verified (the gateway's signed
identity JWT; the node token and stdio callers are ``admin``) and refuses a tool whose scope
(`mcp_nodes.contract.scopes.TOOL_SCOPES`) is missing, with the same text as the gateway: the
missing scope and the `controlroom token create ... --scopes` that grants it; tools/list shows only the tools the
caller's scopes allow.

Example::

    mcp = FastMCP("node", middleware=[ErrorTranslation(), CapabilityCheck()])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mcp.types as mt
from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import Tool, ToolResult

from mcp_nodes.auth import current_identity
from mcp_nodes.contract.scopes import TOOL_SCOPES, missing_scope, scope_refusal

__all__ = ["CapabilityCheck", "Grants"]


@dataclass(frozen=True, slots=True)
class Grants:
    """Who is calling and what their token grants."""

    user: str
    namespaces: list[str]
    scopes: list[str]


def _node_caller() -> Grants:
    identity = current_identity()
    return Grants(identity.user, identity.namespaces, identity.scopes)


class CapabilityCheck(Middleware):
    """FastMCP middleware: refuse a tools/call the caller has no scope for.

    ``caller`` says who is calling (default: the identity the node verified); the gateway passes
    its principal and a ``prefix`` so its own tools refuse like its call chain does.
    """

    def __init__(self, caller: Callable[[], Grants] = _node_caller, prefix: str = "") -> None:
        self._caller = caller
        self._prefix = prefix

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        name = context.message.name
        caller = self._caller()
        # The annotation only decides for a tool the scope table does not name; looking a tool
        # up walks the server's providers and transforms, so the table's tools skip it.
        read_only = name not in TOOL_SCOPES and await _read_only(context, name)
        need = missing_scope(caller.scopes, name, read_only)
        if need is not None:
            raise ToolError(self._prefix + scope_refusal(name, need, caller.user, caller.namespaces, caller.scopes))
        return await call_next(context)


    async def on_list_tools(
        self,
        context: MiddlewareContext[mt.ListToolsRequest],
        call_next: CallNext[mt.ListToolsRequest, Sequence[Tool]],
    ) -> Sequence[Tool]:
        """Only the tools the caller may call: a read-only token is not shown start_workflow.

        Listing is not a grant (every call is checked above); hiding what would be refused keeps a
        model from planning with it and keeps the tool list it reads on every turn smaller.
        """
        tools = await call_next(context)
        scopes = self._caller().scopes
        return [t for t in tools if missing_scope(scopes, t.name, _annotated_read_only(t)) is None]


def _annotated_read_only(tool: Tool) -> bool:
    return bool(tool.annotations is not None and tool.annotations.read_only_hint)


async def _read_only(context: MiddlewareContext[mt.CallToolRequestParams], name: str) -> bool:
    server = context.fastmcp_context.fastmcp if context.fastmcp_context is not None else None
    if server is None:
        return False
    try:
        tool = await server.get_tool(name)
    except Exception:  # an unknown tool: the error edge (or FastMCP itself) answers that
        return False
    return tool is not None and _annotated_read_only(tool)
