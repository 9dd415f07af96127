"""The node's own scope check: a node never trusts the gateway blindly.

`CapabilityCheck` reads the scopes of the identity the node verified (the gateway's signed
identity JWT; the node token and stdio callers are ``admin``) and refuses a tool whose scope
(`mcp_nodes.contract.scopes.TOOL_SCOPES`) is missing, with the same text as the gateway: the
missing scope and the `controlroom token create ... --scopes` that grants it.

Example::

    mcp = FastMCP("node", middleware=[ErrorTranslation(), CapabilityCheck()])
"""

from __future__ import annotations

import mcp.types as mt
from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult

from mcp_nodes.auth import current_identity
from mcp_nodes.contract.scopes import missing_scope, scope_refusal

__all__ = ["CapabilityCheck"]


class CapabilityCheck(Middleware):
    """FastMCP middleware: refuse a tools/call the caller's identity has no scope for."""

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        name = context.message.name
        identity = current_identity()
        need = missing_scope(identity.scopes, name, await _read_only(context, name))
        if need is not None:
            raise ToolError(scope_refusal(name, need, identity.user, identity.namespaces, identity.scopes))
        return await call_next(context)


async def _read_only(context: MiddlewareContext[mt.CallToolRequestParams], name: str) -> bool:
    server = context.fastmcp_context.fastmcp if context.fastmcp_context is not None else None
    if server is None:
        return False
    try:
        tool = await server.get_tool(name)
    except Exception:  # an unknown tool: the error edge answers that
        return False
    return bool(tool is not None and tool.annotations is not None and tool.annotations.read_only_hint)
