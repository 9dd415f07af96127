"""The node's answers a client reads before any tool runs: its serverInfo and its tool schemas."""

from __future__ import annotations

from typing import Any

import fastmcp

from mcp_nodes.version import node_version
from tests.mcp_nodes.conftest import LiveNode


def unportable(schema: Any, path: str = "") -> list[str]:
    """Where ``schema`` uses a ``type`` list or a remote ``$ref`` (what the Inspector's ``--strict`` flags)."""
    found: list[str] = []
    if isinstance(schema, dict):
        if isinstance(schema.get("type"), list):
            found.append(f"{path}: type {schema['type']}")
        ref = schema.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            found.append(f"{path}: remote $ref {ref}")
        for key, value in schema.items():
            found += unportable(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += unportable(value, f"{path}/{index}")
    return found


async def test_server_info_is_controlroom_and_schemas_are_portable(live_node: LiveNode) -> None:
    async with live_node.client() as client:
        assert client.server_info is not None
        assert client.server_info.version == node_version() != fastmcp.__version__
        tools = await client.list_tools()
    assert len(tools) > 20
    problems = [f"{tool.name}{where}" for tool in tools
                for where in unportable(tool.input_schema, ":input") + unportable(tool.output_schema, ":output")]
    assert problems == []
    assert unportable({"properties": {"a": {"type": ["string", "null"]}}}) == ["/properties/a: type ['string', 'null']"]
