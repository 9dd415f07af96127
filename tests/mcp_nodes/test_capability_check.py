"""`CapabilityCheck` on its own server (in memory): a tool in the scope table is judged by the
table, a tool the table does not name by its read-only annotation (read, else admin)."""

from __future__ import annotations

from fastmcp import Client, FastMCP
from mcp.types import ToolAnnotations

from mcp_nodes.capabilities import CapabilityCheck, Grants


def server(scopes: list[str]) -> FastMCP:
    mcp = FastMCP("caps", middleware=[CapabilityCheck(lambda: Grants("bob", ["ns"], scopes))])

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def list_logs() -> str:
        """In the table: read."""
        return "logs"

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=False))
    def prune() -> str:
        """In the table: admin, whatever its annotation says."""
        return "pruned"

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def custom_reader() -> str:
        """Not in the table, annotated read-only: read."""
        return "read"

    @mcp.tool
    def custom_writer() -> str:
        """Not in the table, not read-only: admin."""
        return "written"

    return mcp


async def test_the_table_decides_for_its_tools_and_the_annotation_for_the_others() -> None:
    async with Client(server(["read"])) as client:
        assert (await client.call_tool("list_logs")).data == "logs"
        assert (await client.call_tool("custom_reader")).data == "read"
        for tool in ("prune", "custom_writer"):
            refused = await client.call_tool(tool, raise_on_error=False)
            assert refused.is_error and "needs the 'admin' scope" in refused.content[0].text, tool
    async with Client(server(["admin"])) as client:
        assert (await client.call_tool("custom_writer")).data == "written"
        assert (await client.call_tool("prune")).data == "pruned"
