"""Lineage, timelines and PROV export (round-tripped through the prov library)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import prov
import pytest

from prov_agent import ids
from prov_agent.cli import app
from prov_agent.export import export_document, serialise, to_document
from prov_agent.queries import Scope, agent_activity, lineage, timeline
from prov_agent.store import ProvStore, engine_for
from sqlalchemy import text

from .conftest import Scenario, record_scenario


async def test_lineage_walks_from_an_stf_file_back_to_the_person(any_store: ProvStore) -> None:
    s = await record_scenario(any_store)
    result = await lineage(any_store, s.stf[0])
    assert result.found
    assert result.persons == [ids.person_id("alice")]  # bob used the same client, but not for this
    assert result.tool_calls == [s.call]
    assert result.decisions == [s.decision]
    assert result.model_invocations == [s.invocation]
    assert set(result.agents) == {ids.agent_id("claude-code"), ids.agent_id("daq-agent-alice-1")}
    assert ids.execution_id(s.execution) in result.activities
    assert ids.run_id(100010) in result.activities
    assert s.stf[1] not in {e.src for e in result.edges}  # the sibling file is not on the path
    path = {(e.rel, e.src, e.dst) for e in result.edges}
    assert ("wasInformedBy", ids.execution_id(s.execution), s.call) in path
    assert ("actedOnBehalfOf", ids.agent_id("claude-code"), ids.person_id("alice")) in path


async def test_lineage_of_an_unknown_entity_is_empty(sqlite_store: ProvStore) -> None:
    await record_scenario(sqlite_store)
    result = await lineage(sqlite_store, "controlroom:stf/nope")
    assert not result.found and result.edges == []


async def test_timelines_by_session_principal_execution_and_agent(any_store: ProvStore) -> None:
    s = await record_scenario(any_store)
    session = await timeline(any_store, Scope.parse("stream:session-alice"))
    assert [v.kind for v in session.items] == ["model_invocation", "decision", "tool_call", "gateway_call"]
    assert [v.seq for v in session.items] == [1, 2, 3, 4]
    alice = await timeline(any_store, Scope.parse("principal:alice"))
    assert [v.kind for v in alice.items] == ["tool_call"]
    assert "start_workflow by claude-code for alice" in alice.items[0].summary
    execution = await timeline(any_store, Scope.parse(f"execution:{s.execution}"))
    assert execution.total == 9 - 1  # all but bob's call
    page = await agent_activity(any_store, "claude-code", limit=2)
    assert page.total == 4 and len(page.items) == 2 and page.has_more
    times = [v.time for v in (await timeline(any_store, Scope())).items]
    assert times == sorted(times)


@pytest.mark.parametrize("fmt", ["json", "provn"])
async def test_exports_round_trip_through_prov(sqlite_store: ProvStore, fmt: str) -> None:
    s = await record_scenario(sqlite_store)
    for scope in (Scope(), Scope.parse(f"execution:{s.execution}"), Scope.parse("principal:bob")):
        doc = await export_document(sqlite_store, scope)
        text = serialise(doc, fmt)
        back = prov.read(io.StringIO(text), format=fmt)
        assert back == doc
        assert set(back.get_records()) == set(doc.get_records())
    whole = await export_document(sqlite_store, Scope())
    agent = whole.get_record(ids.agent_id("claude-code"))[0]
    assert "prov:SoftwareAgent" in {str(v) for v in agent.get_asserted_types()}
    relations = {type(r).__name__ for r in whole.get_records() if r.is_relation()}
    assert relations >= {"ProvUsage", "ProvGeneration", "ProvCommunication", "ProvAssociation",
                         "ProvAttribution", "ProvDelegation", "ProvMembership"}


async def test_repeated_declarations_merge_in_export(sqlite_store: ProvStore) -> None:
    await record_scenario(sqlite_store)
    doc = to_document(await sqlite_store.records())
    assert len(doc.get_record(ids.agent_id("claude-code"))) == 1
    execution = doc.get_record(ids.execution_id("stf_datataking-alice-0001"))[0]
    assert execution.get_startTime() is not None and execution.get_endTime() is not None


def test_cli_verify_lineage_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI runs its own event loop, so this test is synchronous and sets up with asyncio.run."""

    async def setup() -> tuple[Scenario, object]:
        engine = engine_for(state_dir=tmp_path)
        store = ProvStore(engine)
        await store.create_schema()
        s = await record_scenario(store)
        doc = await export_document(store, Scope.parse(f"execution:{s.execution}"))
        await engine.dispose()
        return s, doc

    async def tamper() -> None:
        engine = engine_for(state_dir=tmp_path)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE prov_records SET kind = 'note' WHERE stream = 'node-1' AND seq = 2"))
        await engine.dispose()

    s, expected = asyncio.run(setup())
    state = ["--state-dir", str(tmp_path)]
    assert app(["verify", *state], result_action="return_value") == 0
    assert app(["lineage", s.stf[0], *state], result_action="return_value") == 0
    assert "controlroom:person/alice" in capsys.readouterr().out
    out = tmp_path / "x.provn"
    code = app(["export", "--scope", f"execution:{s.execution}", "--format", "provn", "-o", str(out), *state],
               result_action="return_value")
    assert code == 0
    assert prov.read(str(out), format="provn") == expected
    assert app(["timeline", "--scope", "bogus:x", *state], result_action="return_value") == 2
    assert "unknown kind" in capsys.readouterr().err
    asyncio.run(tamper())
    assert app(["verify", *state], result_action="return_value") == 1
    assert "BROKEN stream=node-1 seq=2" in capsys.readouterr().out
