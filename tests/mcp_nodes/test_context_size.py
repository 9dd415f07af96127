"""What a model is given stays small (issue 12): the tool definitions and the canonical task's
results, counted the way an MCP client hands them to the model, through `controlroom up`.

Counted like ``bench/agent_context.py``: a tool is the JSON of ``{name, description,
input_schema}`` (what Claude Code sends in the Messages API ``tools`` array every turn); a result
is its structured content as JSON. The goals are the issue's: tool definitions <= 20,000
characters, the four results of start_testbed, start_workflow, wait_for_execution and
get_workflow_execution <= 4,000 together, a default list page <= 6,000 (the bench measures that
one on a 1,000,000-row store; here the page is checked on what the task logged).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from tests.support.up import start_up, stop_up

TOOL_DEFINITIONS_MAX = 20_000
CANONICAL_TASK_MAX = 4_000
LIST_PAGE_MAX = 6_000
NAMESPACE = "sizes"


def tool_chars(tool: Any) -> int:
    return len(json.dumps({"name": tool.name, "description": tool.description or "", "input_schema": tool.input_schema}))


def result_chars(result: Any) -> int:
    assert result.structured_content is not None, "every tool answers with structured content"
    return len(json.dumps(result.structured_content))


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    process, details = start_up(tmp_path_factory.mktemp("context") / "state")
    try:
        yield details
    finally:
        stop_up(process)


async def test_tool_definitions_fit_the_budget(up: dict[str, str]) -> None:
    async with Client(up["url"], auth=up["token"], timeout=120) as client:
        tools = await client.list_tools()
    sizes = {tool.name: tool_chars(tool) for tool in tools}
    assert {"start_testbed", "list_logs", "whoami"} <= set(sizes)  # node tools and the gateway's own
    biggest = sorted(sizes.items(), key=lambda item: -item[1])[:5]
    assert sum(sizes.values()) <= TOOL_DEFINITIONS_MAX, f"{sum(sizes.values())} characters; biggest: {biggest}"
    # the listed schemas are the compact ones: no pydantic null branches, no titles
    listed = json.dumps([tool.input_schema for tool in tools])
    assert '{"type": "null"}' not in listed and '"title"' not in listed


async def test_canonical_task_results_fit_the_budget(up: dict[str, str]) -> None:
    async with Client(up["url"], auth=up["token"], timeout=300) as client:
        started = await client.call_tool("start_testbed", {"namespace": NAMESPACE})
        execution = await client.call_tool("start_workflow", {"namespace": NAMESPACE, "parameters": {"stf_count": 3}})
        execution_id = execution.structured_content["execution_id"]
        waited = await client.call_tool("wait_for_execution", {"execution_id": execution_id, "timeout_s": 120})
        record = await client.call_tool("get_workflow_execution", {"execution_id": execution_id})
        full = await client.call_tool("get_workflow_execution", {"execution_id": execution_id, "include_config": True})
        await client.call_tool("stop_testbed", {"namespace": NAMESPACE})
    sizes = {name: result_chars(result) for name, result in
             (("start_testbed", started), ("start_workflow", execution), ("wait_for_execution", waited),
              ("get_workflow_execution", record))}
    assert sum(sizes.values()) <= CANONICAL_TASK_MAX, sizes
    # the results lead with status and the next step, and the config is there on request
    assert waited.structured_content["finished"] is True and record.structured_content["status"] == "completed"
    assert "wait_for_execution" in execution.structured_content["hint"]
    assert record.structured_content["config"] is None and "include_config" in record.structured_content["hint"]
    assert record.structured_content["overrides"] == {"stf_count": 3}
    assert full.structured_content["config"]["merged"] and full.structured_content["parameters"]["stf_count"] == 3
    assert result_chars(full) > 2 * result_chars(record)


async def test_default_list_pages_are_model_sized(up: dict[str, str]) -> None:
    async with Client(up["url"], auth=up["token"], timeout=300) as client:
        await client.call_tool("start_testbed", {"namespace": "pages"})
        execution = await client.call_tool("start_workflow", {"namespace": "pages", "parameters": {"stf_count": 3}})
        execution_id = execution.structured_content["execution_id"]
        await client.call_tool("wait_for_execution", {"execution_id": execution_id, "timeout_s": 120})
        logs = await client.call_tool("list_logs", {})
        slices = await client.call_tool("list_tf_slices", {"execution_id": execution_id})
        agents = await client.call_tool("list_agents", {"namespace": "pages"})
        messages = await client.call_tool("list_messages", {"execution_id": execution_id})
        one = slices.structured_content["items"][0]
        whole = await client.call_tool("get_tf_slice", {"tf_filename": one["tf_filename"], "slice_id": one["slice_id"]})
        await client.call_tool("stop_testbed", {"namespace": "pages"})
    for name, page in (("list_logs", logs), ("list_tf_slices", slices), ("list_agents", agents),
                       ("list_messages", messages)):
        content = page.structured_content
        assert result_chars(page) <= LIST_PAGE_MAX, (name, result_chars(page))
        assert len(content["items"]) <= 20, name
        # a short page still says how much there is and how to go on
        assert content["total"] >= len(content["items"]) and content["has_more"] == (content["next_cursor"] is not None)
    assert logs.structured_content["total"] > 20 and logs.structured_content["has_more"] is True
    # lean rows; the get_ tool has the whole record
    assert "result" not in one and "result" in whole.structured_content
