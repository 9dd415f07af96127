"""The provenance MCP tools through a real in-memory fastmcp Client, over a real store written by
the real Recorder (the conftest scenario: alice's Claude Code starts a workflow; bob lists runs)."""

from __future__ import annotations

import io
from typing import Any

import prov
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text

from prov_agent import ids
from prov_agent.export import export_document, serialise
from prov_agent.queries import Scope
from prov_agent.store import ProvStore
from prov_agent.tools import Caller, provenance_tools

from .conftest import Scenario, record_scenario

TOOLS = {"prov_timeline", "prov_lineage", "prov_agent_activity", "prov_export", "prov_verify"}


async def _call(server: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    async with Client(server) as client:
        result = await client.call_tool(tool, arguments)
    assert result.structured_content is not None
    return result.structured_content


async def _error(server: Any, tool: str, **arguments: Any) -> str:
    async with Client(server) as client:
        with pytest.raises(ToolError) as caught:
            await client.call_tool(tool, arguments)
    message = str(caught.value)
    assert "Traceback" not in message
    return message


@pytest.fixture
async def recorded(sqlite_store: ProvStore) -> tuple[ProvStore, Scenario]:
    return sqlite_store, await record_scenario(sqlite_store)


async def test_tools_are_listed_read_only_with_output_schemas(recorded: tuple[ProvStore, Scenario]) -> None:
    store, _ = recorded
    async with Client(provenance_tools(lambda: store)) as client:
        tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.output_schema is not None
        assert tool.description and 40 < len(tool.description) <= 300  # said, and short (issue 12)
    assert "controlroom prov export" in (tools["prov_export"].description or "")


async def test_timeline_pages_with_cursor_cover_every_record_once(recorded: tuple[ProvStore, Scenario]) -> None:
    store, s = recorded
    server = provenance_tools(lambda: store)
    seen: list[str] = []
    cursor = None
    while True:
        args: dict[str, Any] = {"scope": f"execution:{s.execution}", "limit": 3}
        if cursor:
            args["cursor"] = cursor
        page = await _call(server, "prov_timeline", **args)
        seen.extend(item["record_id"] for item in page["items"])
        assert page["has_more"] == (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == page["total"] == 8  # all but bob's call
    alice = await _call(server, "prov_timeline", scope="principal:alice")
    assert [i["kind"] for i in alice["items"]] == ["tool_call"]
    assert "start_workflow by claude-code for alice" in alice["items"][0]["summary"]


async def test_timeline_time_window(recorded: tuple[ProvStore, Scenario]) -> None:
    store, _ = recorded
    server = provenance_tools(lambda: store)
    everything = await _call(server, "prov_timeline", scope="all", limit=500)
    middle = everything["items"][4]["time"]
    before = await _call(server, "prov_timeline", scope="all", until=middle)
    after = await _call(server, "prov_timeline", scope="all", since=middle)
    assert before["total"] + after["total"] == everything["total"]
    assert all(i["time"] < middle for i in before["items"])


async def test_lineage_upstream_and_downstream(recorded: tuple[ProvStore, Scenario]) -> None:
    store, s = recorded
    server = provenance_tools(lambda: store)
    up = await _call(server, "prov_lineage", entity=s.stf[0])
    assert up["found"] and up["direction"] == "upstream"
    assert up["persons"] == [ids.person_id("alice")]
    assert up["tool_calls"] == [s.call] and up["decisions"] == [s.decision]
    assert up["model_invocations"] == [s.invocation]
    assert any("start_workflow" in step["summary"] for step in up["steps"])
    down = await _call(server, "prov_lineage", entity=ids.execution_id(s.execution), direction="downstream")
    reached = {e["src"] for e in down["edges"]} | {e["dst"] for e in down["edges"]}
    assert set(s.stf) <= reached
    assert s.call not in reached


async def test_agent_activity_and_verify(recorded: tuple[ProvStore, Scenario]) -> None:
    store, _ = recorded
    server = provenance_tools(lambda: store)
    page = await _call(server, "prov_agent_activity", agent="claude-code", limit=2)
    assert page["total"] == 4 and len(page["items"]) == 2 and page["has_more"]
    rest = await _call(server, "prov_agent_activity", agent="claude-code", limit=2, cursor=page["next_cursor"])
    assert not rest["has_more"] and len(rest["items"]) == 2
    assert {i["record_id"] for i in page["items"]}.isdisjoint(i["record_id"] for i in rest["items"])
    ok = await _call(server, "prov_verify")
    assert ok["ok"] and ok["records"] == 9 and ok["problems"] == []
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE prov_records SET kind = 'note' WHERE stream = 'node-1' AND seq = 2"))
    broken = await _call(server, "prov_verify")
    assert not broken["ok"] and broken["problems_total"] == 1
    assert (broken["problems"][0]["stream"], broken["problems"][0]["seq"]) == ("node-1", 2)


@pytest.mark.parametrize("fmt", ["json", "provn"])
async def test_export_round_trips_and_is_capped(recorded: tuple[ProvStore, Scenario], fmt: str) -> None:
    store, s = recorded
    scope = f"execution:{s.execution}"
    result = await _call(provenance_tools(lambda: store), "prov_export", scope=scope, format=fmt)
    assert result["records"] == 8 and result["bytes"] == len(result["document"].encode())
    expected = await export_document(store, Scope.parse(scope))
    assert prov.read(io.StringIO(result["document"]), format=fmt) == expected
    assert result["document"] == serialise(expected, fmt)
    small = provenance_tools(lambda: store, max_export_records=3)
    message = await _error(small, "prov_export", scope=scope, format=fmt)
    assert "8 records" in message and f"controlroom prov export --scope {scope} --format {fmt}" in message
    tiny = provenance_tools(lambda: store, max_export_bytes=500)
    assert "bytes" in await _error(tiny, "prov_export", scope=scope, format=fmt)


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("prov_timeline", {"scope": "bogus:x"}, "scope"),
        ("prov_timeline", {"scope": "execution:"}, "scope"),
        ("prov_timeline", {"scope": "all", "since": "yesterday"}, "since"),
        ("prov_timeline", {"scope": "all", "until": "2026-11-23T12:00:00"}, "until"),
        ("prov_timeline", {"scope": "all", "limit": 0}, "limit"),
        ("prov_timeline", {"scope": "all", "cursor": "not-a-cursor"}, "cursor"),
        ("prov_lineage", {"entity": "swf.100010.000001.stf"}, "entity"),
        ("prov_lineage", {"entity": "controlroom:has space"}, "entity"),
        ("prov_agent_activity", {"agent": "controlroom:agent/claude-code"}, "agent"),
        ("prov_export", {"scope": "principal:"}, "scope"),
    ],
)
async def test_bad_input_names_the_field(
    recorded: tuple[ProvStore, Scenario], tool: str, arguments: dict[str, Any], field: str
) -> None:
    store, _ = recorded
    message = await _error(provenance_tools(lambda: store), tool, **arguments)
    assert message.startswith(f"{field}:") or f"{field}:" in message, message


async def test_a_broken_store_is_a_tool_error(recorded: tuple[ProvStore, Scenario]) -> None:
    store, _ = recorded
    missing = ProvStore(store.engine, table_prefix="prov_missing_")  # tables never created
    message = await _error(provenance_tools(lambda: missing), "prov_verify")
    assert "provenance store could not answer" in message


async def test_namespace_guard_isolates_principals(recorded: tuple[ProvStore, Scenario]) -> None:
    store, s = recorded
    bob = provenance_tools(lambda: store, namespace_guard=lambda: Caller(user="bob", namespaces=["bob"]))
    alice = provenance_tools(lambda: store, namespace_guard=lambda: Caller(user="alice", namespaces=["alice"]))
    admin = provenance_tools(lambda: store, namespace_guard=lambda: Caller(user="root", namespaces=["*"]))
    assert "principal:bob" in await _error(bob, "prov_timeline", scope="principal:alice")
    assert "not in your namespaces" in await _error(bob, "prov_timeline", scope=f"execution:{s.execution}")
    assert "admin" in await _error(bob, "prov_timeline", scope="all")
    assert "not in your namespaces" in await _error(bob, "prov_lineage", entity=s.stf[0])
    assert "scope" in await _error(bob, "prov_export", scope="stream:session-alice")
    own = await _call(bob, "prov_timeline", scope="principal:bob")
    assert [i["kind"] for i in own["items"]] == ["gateway_call"]
    bobs_share = await _call(bob, "prov_agent_activity", agent="claude-code")
    assert [i["kind"] for i in bobs_share["items"]] == ["gateway_call"]
    assert (await _call(alice, "prov_timeline", scope=f"execution:{s.execution}"))["total"] == 8
    assert (await _call(alice, "prov_lineage", entity=s.stf[0]))["found"]
    assert (await _call(admin, "prov_timeline", scope="all"))["total"] == 9
    assert (await _call(admin, "prov_agent_activity", agent="claude-code"))["total"] == 4


async def test_mounts_under_another_server(recorded: tuple[ProvStore, Scenario]) -> None:
    from fastmcp import FastMCP

    store, _ = recorded
    gateway = FastMCP("gateway")
    gateway.mount(provenance_tools(lambda: store))
    async with Client(gateway) as client:
        names = {t.name for t in await client.list_tools()}
        assert TOOLS <= names
        result = await client.call_tool("prov_verify", {})
    assert result.structured_content is not None and result.structured_content["ok"]


@pytest.mark.parametrize("scope", ["all", "stream:node-1", "agent:claude-code", "principal:alice"])
async def test_pages_concatenate_to_the_whole_scope_in_order(recorded: tuple[ProvStore, Scenario], scope: str) -> None:
    from prov_agent.queries import select_rows

    store, _ = recorded
    server = provenance_tools(lambda: store)
    expected = [r.record_id for r in await select_rows(store, Scope.parse(scope))]
    got: list[str] = []
    args: dict[str, Any] = {"scope": scope, "limit": 2}
    while True:
        page = await _call(server, "prov_timeline", **args)
        assert page["total"] == len(expected)
        got.extend(i["record_id"] for i in page["items"])
        if not page["has_more"]:
            break
        args["cursor"] = page["next_cursor"]
    assert got == expected and expected
