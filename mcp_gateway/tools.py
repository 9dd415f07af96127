"""What the gateway exposes over MCP: the logical node tools (from the registry's catalog) and
its own tools. Adding an own tool is one line: ``gateway.mcp.tool(my_function)``; inside it,
`current_principal()` says who is calling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.providers import Provider
from fastmcp.tools import Tool, ToolResult
from mcp.types import ToolAnnotations

from mcp_gateway.breaker import Breakers
from mcp_gateway.errors import AuthError
from mcp_gateway.models import NodeList, NodeView, Principal, WhoAmI
from mcp_gateway.registry import Registry


def current_principal() -> Principal:
    """The principal of the MCP request being served (set by the passthrough layer)."""
    token = get_access_token()
    principal = (token.claims or {}).get("principal") if token is not None else None
    if not isinstance(principal, Principal):
        raise AuthError("no authenticated principal in this request")
    return principal


class NodeTool(Tool):
    """A logical node tool; calls to it are forwarded by the passthrough layer, not run here."""

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        raise RuntimeError(f"{self.name} is a node tool: call it through the gateway's HTTP endpoint "
                           "(the passthrough forwards it); it cannot run inside the gateway process")


class CatalogProvider(Provider):
    """Lists the registry's logical tools; rebuilt only when the catalog object changes."""

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self._registry = registry
        self._built_from: object = None
        self._tools: dict[str, Tool] = {}

    def _current(self) -> dict[str, Tool]:
        catalog = self._registry.catalog
        if catalog is not self._built_from:
            self._tools = {name: NodeTool(
                name=name, title=tool.mcp_tool.get("title"), description=tool.mcp_tool.get("description"),
                parameters=tool.mcp_tool.get("inputSchema") or {"type": "object"},
                output_schema=tool.mcp_tool.get("outputSchema"),
                annotations=ToolAnnotations.model_validate(tool.mcp_tool["annotations"])
                if tool.mcp_tool.get("annotations") else None,
            ) for name, tool in sorted(catalog.items())}
            self._built_from = catalog
        return self._tools

    async def _list_tools(self) -> Sequence[Tool]:
        return list(self._current().values())

    async def _get_tool(self, name: str, version: Any = None) -> Tool | None:
        return self._current().get(name)


def add_gateway_tools(mcp: FastMCP, registry: Registry, breakers: Breakers) -> None:
    """The gateway's own tools: list_nodes, get_node, whoami.

    Every node stays visible (health, labels, load, tools: what routing and a ``node=`` argument
    need), but a caller without "*" sees only its own namespaces in a node's namespace list.
    """

    def view(name: str) -> NodeView:
        node = registry.get(name).view(breakers[name].state)
        principal = current_principal()
        if "*" not in principal.namespaces:
            node.namespaces = [n for n in node.namespaces if principal.allows(n)]
        return node

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True))
    def list_nodes(health: str | None = None, limit: int = 100, offset: int = 0) -> NodeList:
        """Execution nodes: health (up/down/gone), namespaces, labels, load, tools. Any node tool
        takes node=NAME to force one; omit it and the gateway routes."""
        views = [view(name) for name in sorted(registry.nodes)]
        if health is not None:
            views = [v for v in views if v.health == health]
        page = views[offset:offset + limit]
        return NodeList(items=page, total=len(views), has_more=offset + len(page) < len(views))

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True))
    def get_node(name: str) -> NodeView:
        """One execution node: health, namespaces, labels, load, tools."""
        return view(name)

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True))
    def whoami() -> WhoAmI:
        """Who the gateway thinks you are: user, granted namespaces ('*' = all), labels, scopes."""
        principal = current_principal()
        return WhoAmI(user=principal.user, namespaces=principal.namespaces,
                      labels=principal.labels, scopes=principal.scopes)
