"""The recorder's gateway records: client and principal declared once per stream, and every
query and export still names them."""

from __future__ import annotations

import io
import json

import prov
import pytest
from pydantic import ValidationError

from prov_agent import ids
from prov_agent.model import AIAgent, AIModel
from prov_agent.export import export_document, serialise
from prov_agent.queries import Scope, lineage, timeline
from prov_agent.recorder import Recorder
from prov_agent.settings import ProvSettings
from prov_agent.store import ProvStore
from prov_agent.writer import ProvWriter


async def _gateway_calls(store: ProvStore) -> list[str]:
    async with ProvWriter(store, flush_interval=60) as writer:
        rec = Recorder(writer, stream="gateway")
        calls = [
            rec.gateway_call("alice", "claude-code", "2.1", "list_runs", {"n": i}, "node-1", "namespace", "ok", 0.01)
            for i in range(3)
        ]
        calls.append(rec.gateway_call("bob", "claude-code", "2.1", "get_run", {}, "node-1", "namespace", "ok", 0.01))
        calls.append(rec.gateway_call("bob", "claude-code", "2.2", "get_run", {}, "node-1", "namespace", "ok", 0.01))
        rec.workflow_event("execution_started", execution="wf-alice-0001", namespace="alice", informed_by=calls[1])
    return calls


async def test_gateway_declares_client_and_principal_once_per_stream(any_store: ProvStore) -> None:
    await _gateway_calls(any_store)
    rows = sorted(await any_store.records(stream="gateway", kinds=["gateway_call"]), key=lambda r: r.seq)
    declared = [[e["id"].rsplit("/", 1)[1] for e in json.loads(r.body)["elements"] if e["class"] != "AgentTool"] for r in rows]
    # first call: both; alice again: none; bob: only bob; a new client version: the client again
    assert declared == [["claude-code", "alice"], [], [], ["bob"], ["claude-code"]]
    assert len(rows[1].body) < len(rows[0].body)
    assert (await any_store.verify()).ok


async def test_undeclared_agents_are_still_named_by_queries_and_exports(any_store: ProvStore) -> None:
    calls = await _gateway_calls(any_store)
    alice = await timeline(any_store, Scope.parse("principal:alice"))
    assert [i.kind for i in alice.items] == ["gateway_call"] * 3
    assert all("list_runs by claude-code for alice on node-1" in i.summary for i in alice.items)
    walked = await lineage(any_store, ids.execution_id("wf-alice-0001"))
    assert walked.tool_calls == [calls[1]]
    assert walked.persons == [ids.person_id("alice")] and walked.agents == [ids.agent_id("claude-code")]
    # the second call's record declares neither agent nor person: the export finds their declarations
    doc = await export_document(any_store, Scope.parse(f"entity:{calls[1]}"))
    agent = doc.get_record(ids.agent_id("claude-code"))
    assert agent and "prov:SoftwareAgent" in {str(t) for t in agent[0].get_asserted_types()}
    assert doc.get_record(ids.person_id("alice"))
    back = prov.read(io.StringIO(serialise(doc, "json")), format="json")
    assert back == doc


async def test_record_ids_are_uuid_shaped_and_unique(sqlite_store: ProvStore) -> None:
    async with ProvWriter(sqlite_store, flush_interval=60) as writer:
        for _ in range(2000):
            writer.append("s", "note", {"elements": [], "relations": []})
    rows = await sqlite_store.records(stream="s")
    record_ids = [r.record_id for r in rows]
    assert len(set(record_ids)) == 2000
    assert {len(i) for i in record_ids} == {36}
    assert all(i[14] == "7" and i.count("-") == 4 for i in record_ids)


async def test_call_ids_are_time_ordered(sqlite_store: ProvStore) -> None:
    """Call, invocation and decision ids start with the time (UUIDv7 layout), so the mentions index
    takes them at its end: random ids made its inserts scatter (half of SQLite's cost per call)."""
    import time
    import uuid

    keys = []
    for _ in range(5):
        keys.extend(ids.time_ordered_key() for _ in range(50))
        time.sleep(0.002)
    assert len(set(keys)) == len(keys)
    assert [k[:12] for k in keys] == sorted(k[:12] for k in keys) and keys[0][:12] < keys[-1][:12]
    assert {uuid.UUID(k).version for k in keys} == {7} and {uuid.UUID(k).variant for k in keys} == {uuid.RFC_4122}
    assert abs(int(keys[-1][:12], 16) / 1000 - time.time()) < 5
    async with ProvWriter(sqlite_store, flush_interval=60) as writer:
        rec = Recorder(writer, stream="gateway")
        made = []
        for i in range(3):
            made.append(rec.gateway_call("alice", "claude-code", "2.1", "list_runs", {"n": i}, "n1", "ns", "ok", 0.01))
            time.sleep(0.002)
        with rec.model_invocation(AIAgent(name="dbg"), AIModel(name="m"), "why?") as inv:
            inv.response("oom")
        made.append(inv.id)
        made.append(rec.decision(AIAgent(name="dbg"), "retry", "oom", [], informed_by=[inv.id]))
    keys = [m.rsplit("/", 1)[1] for m in made]
    assert [k[:12] for k in keys] == sorted(k[:12] for k in keys)
    assert {uuid.UUID(k).version for k in keys} == {7}


async def test_reformatted_body_json_is_an_edit(sqlite_store: ProvStore) -> None:
    """The hash covers the body text as stored: the same JSON re-encoded differently is caught."""
    from sqlalchemy import text

    await _gateway_calls(sqlite_store)
    first = min(await sqlite_store.records(stream="gateway"), key=lambda r: r.seq)
    async with sqlite_store.engine.begin() as conn:
        await conn.execute(
            text("UPDATE prov_records SET body = :b WHERE record_id = :r"),
            {"b": json.dumps(json.loads(first.body), indent=1), "r": first.record_id},
        )
    result = await sqlite_store.verify()
    assert [(p.seq, p.record_id) for p in result.problems] == [(1, first.record_id)]


def test_settings_defaults_and_validation() -> None:
    settings = ProvSettings()
    assert (settings.flush_interval_s, settings.max_value_bytes, settings.table_prefix) == (0.2, 4096, "prov_")
    assert ProvSettings(flush_interval_s=1.5, table_prefix="prov_gw_").table_prefix == "prov_gw_"
    with pytest.raises(ValidationError, match="table_prefix"):
        ProvSettings(table_prefix="records")
    with pytest.raises(ValidationError, match="flush_interval_s"):
        ProvSettings(flush_interval_s=0)
