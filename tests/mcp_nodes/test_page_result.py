"""`page_result` answers exactly what FastMCP makes of the returned page (its own conversion is
the oracle): the same structured content and the same JSON text."""

from __future__ import annotations

from datetime import UTC, datetime

from fastmcp.tools import Tool

from mcp_nodes.tools.logs import flat_schema, page_result
from workflows.store.records import JsonPage, LogLine, Page


def test_page_result_is_what_fastmcp_makes_of_the_page() -> None:
    page = Page[LogLine](items=[
        LogLine(id=7, created_at=datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC), agent="data-agent-a-1",
                execution_id=None, level=40, levelname="ERROR", message='disk "full" \u00e9\n'),
        LogLine(id=6, created_at=datetime(2026, 11, 30, 11, 59, tzinfo=UTC), agent="w", execution_id="e-1",
                level=20, levelname="INFO", message="ok"),
    ], total=2, has_more=True, next_cursor="abc")

    def list_logs() -> Page[LogLine]:
        return page

    tool = Tool.from_function(list_logs, output_schema=flat_schema(Page[LogLine].model_json_schema()))
    expected = tool.convert_result(page)
    ours = page_result(page)
    assert ours.structured_content == expected.structured_content
    assert [block.model_dump() for block in ours.content] == [block.model_dump() for block in expected.content]
    assert ours.to_mcp_result() == expected.to_mcp_result()
    # the store's JSON form of the page (list_logs' path) answers the same
    wire = page_result(JsonPage(data=page.model_dump(mode="json"), text=page.model_dump_json()))
    assert wire.to_mcp_result() == expected.to_mcp_result()
