"""Capabilities at the gateway's edge: the scope each tool needs (`mcp_nodes.contract.scopes`).

Two doors, one table: `ScopeStage` is the link of the node-tool call chain
(`mcp_gateway.server.build_gateway`), `scope_middleware()` the FastMCP middleware in front of the
gateway's own tools (whoami, list_nodes, prov_*, debug_execution, approve_fix...). Both refuse
with the same text, naming the missing scope and the `controlroom token create` that grants it.
The node checks again from the identity it verifies (`mcp_nodes.capabilities`).
"""

from __future__ import annotations

from mcp_gateway.calls import Call, Handler, Reply
from mcp_gateway.errors import AccessDenied
from mcp_gateway.models import Principal
from mcp_gateway.tools import current_principal
from mcp_nodes.capabilities import CapabilityCheck, Grants
from mcp_nodes.contract.scopes import missing_scope, scope_refusal

__all__ = ["ScopeStage", "refusal", "scope_middleware"]


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


def scope_middleware() -> CapabilityCheck:
    """FastMCP middleware: the same check for the gateway's own tools (the node's middleware,
    told who the caller is)."""
    def caller() -> Grants:
        principal = current_principal()
        return Grants(principal.user, principal.namespaces, principal.scopes)

    return CapabilityCheck(caller, prefix="AccessDenied: ")
