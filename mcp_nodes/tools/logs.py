"""Log tools: search the agents' logs, read one entry.

``list_logs`` answers with a `ToolResult` it builds itself (:func:`page_result`): FastMCP's
conversion of a returned model serializes the page four times (text of the model, the model to
JSON-able data, text of that data, and the data again inside ``ToolResult``), each a walk over
every field of every row. The store hands the page over already in its JSON form
(``list_log_lines_json``: plain dicts from the rows, one walk to make the text), so no model is
built per line. The answer is the same, byte for byte.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from fastmcp.tools import ToolResult
from mcp.types import TextContent
from pydantic import BaseModel, Field

from mcp_nodes.auth import current_identity, require_visible, visible_namespace
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import (
    LEVELS, READ_ONLY, Cursor, EndTime, Limit, LogLevel, NamespaceFilter, StartTime,
)
from workflows.store.records import JsonPage, LogLine, LogRecord, Page

__all__ = ["page_result", "register"]


def flat_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same JSON Schema, cheaper to validate: ``$ref`` to ``$defs`` inlined, titles dropped.
    Nullable fields keep their ``anyOf`` branches of one ``type`` each: a ``type`` list is legal
    JSON Schema but not portable (the MCP Inspector's ``--strict`` flags it; single-type dialects
    such as Gemini's reject it).

    Clients validate every result against the output schema (the Python MCP client with the
    pure-Python ``jsonschema``, per field of every row), so a 200-row page pays for each
    reference resolution and each ``anyOf`` branch 200 times.

    >>> flat_schema({"$defs": {"A": {"title": "A", "anyOf": [{"type": "string"}, {"type": "null"}]}},
    ...              "properties": {"a": {"$ref": "#/$defs/A"}}})
    {'properties': {'a': {'anyOf': [{'type': 'string'}, {'type': 'null'}]}}}
    """
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return walk(defs[node["$ref"].rsplit("/", 1)[1]])
        return {key: walk(value) for key, value in node.items() if key not in ("$defs", "title")}

    return walk(schema)


def page_result(page: BaseModel | JsonPage) -> ToolResult:
    """``page`` as the result FastMCP makes of a returned model, built with one serialization
    each way: the structured content (JSON-able data) and the same data as compact JSON text
    (a `JsonPage` carries both already).

    ``model_construct``: ``ToolResult()`` would re-serialize the data it is given, which is
    JSON-able already.
    """
    if isinstance(page, JsonPage):
        return ToolResult.model_construct(content=[TextContent(type="text", text=page.text)],
                                          structured_content=page.data)
    return ToolResult.model_construct(content=[TextContent(type="text", text=page.model_dump_json())],
                                      structured_content=page.model_dump(mode="json"))


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add list_logs and get_log_entry to ``mcp``."""
    store = services.store

    @mcp.tool(annotations=READ_ONLY, output_schema=flat_schema(Page[LogLine].model_json_schema()))
    async def list_logs(
        namespace: NamespaceFilter = None,
        agent: Annotated[str | None, Field(max_length=200)] = None,
        execution_id: Annotated[str | None, Field(max_length=200)] = None,
        level: Annotated[LogLevel | None, Field(description="minimum level")] = None,
        search: Annotated[str | None, Field(min_length=1, max_length=200, description="text in the message")] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 20, cursor: Cursor = None,
    ) -> ToolResult:
        """Log lines, newest first. Failures: level='ERROR' and execution_id."""
        ns = visible_namespace(current_identity(), namespace)
        return page_result(await store.logs.list_log_lines_json(
            namespace=ns, agent=agent, execution_id=execution_id,
            min_level=LEVELS[level] if level is not None else None, search=search,
            start_time=start_time, end_time=end_time, limit=limit, cursor=cursor,
        ))

    @mcp.tool(annotations=READ_ONLY)
    async def get_log_entry(log_id: Annotated[int, Field(ge=1, description="from list_logs")]) -> LogRecord:
        """One log entry with its extra fields."""
        record = await store.logs.get_log(log_id)
        require_visible(current_identity(), record.namespace, "log entry", log_id)
        return record
