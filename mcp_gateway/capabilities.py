"""Capabilities at the gateway's edge: the scope each tool needs (`mcp_nodes.contract.scopes`).

Two doors, one table: `ScopeStage` is the link of the node-tool call chain
(`mcp_gateway.server.build_gateway`), `ScopeMiddleware` the FastMCP middleware in front of the
gateway's own tools (whoami, list_nodes, prov_*, debug_execution, approve_fix...). Both refuse
with the same text, naming the missing scope and the `controlroom token create` that grants it.
The node checks again from the identity it verifies (`mcp_nodes.capabilities`).
"""

from __future__ import annotations

import mcp.types as mt
from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult

from mcp_gateway.calls import Call, Handler, Reply
from mcp_gateway.errors import AccessDenied
from mcp_gateway.models import Principal
from mcp_gateway.tools import current_principal
from mcp_nodes.contract.scopes import missing_scope, scope_refusal

__all__ = ["ScopeMiddleware", "ScopeStage", "refusal"]


def refusal(principal: Principal, tool: str, read_only: bool = False) -> str | None:
    """The refusal text when ``principal`` lacks the scope ``tool`` needs, else None."""
    need = missing_scope(principal.scopes, tool, read_only)
    if need is None:
        return None
    return scope_refusal(tool, need, principal.user, principal.namespaces, principal.scopes)


class ScopeStage:
    """Refuses a node-tool call whose token lacks the tool's scope (before any routing)."""

    async def __call__(self, call: Call, next_handler: Handler) -> Reply:
        refused = refusal(call.principal, call.tool.name, call.tool.read_only)
        if refused is not None:
            raise AccessDenied(refused)
        return await next_handler(call)


class ScopeMiddleware(Middleware):
    """FastMCP middleware: the same check for the gateway's own tools."""

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        name = context.message.name
        refused = refusal(current_principal(), name, await _read_only(context, name))
        if refused is not None:
            raise ToolError(f"AccessDenied: {refused}")
        return await call_next(context)


async def _read_only(context: MiddlewareContext[mt.CallToolRequestParams], name: str) -> bool:
    server = context.fastmcp_context.fastmcp if context.fastmcp_context is not None else None
    if server is None:
        return False
    try:
        tool = await server.get_tool(name)
    except Exception:  # an unknown tool: FastMCP itself answers that
        return False
    return bool(tool is not None and tool.annotations is not None and tool.annotations.read_only_hint)
