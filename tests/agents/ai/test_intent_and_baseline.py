"""Timeline entries from real PROV call records, the intent gate, premise checks and baselines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.ai.debugger import baseline, intent, premise, rules
from agents.ai.debugger.evidence import AgentView, Evidence
from agents.ai.debugger.policy import load_policy
from agents.ai.debugger.rules import Diagnosis, FixProposal
from mcp_nodes.contract.scopes import reads_only
from agents.ai.debugger.timeline import Action, Entry, Metrics, actions_from, page, provenance_entries
from prov_agent.recorder import Recorder
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ProvStore]:
    engine = engine_for(state_dir=tmp_path)
    prov = ProvStore(engine)
    await prov.create_schema()
    yield prov
    await engine.dispose()


async def test_gateway_call_records_become_entries_and_actions(store: ProvStore) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with ProvWriter(store) as writer:
        rec = Recorder(writer, stream="gateway")
        rec.gateway_call("alice", "claude-code", "1.0", "stop_workflow",
                         {"execution_id": "x-1", "reason": "beam dump requested by shift leader"}, "n1", "entity", "ok", 0.2)
        rec.gateway_call("alice", "claude-code", "1.0", "get_workflow_monitor", {"execution_id": "x-1"}, "n1", "entity", "ok", 0.01)
        rec.gateway_call("bob", "controlroom-debugger", None, "restart_agent", {"name": "fastmon-ns-1"}, "n1", "entity", "ok", 0.1)
        rec.gateway_call("carol", "cli", None, "kill_agent", {"name": "other-agent"}, "n1", "entity", "ok", 0.1)
        await writer.flush()
    entries, actions = await provenance_entries(store, since=since, execution_id="x-1", namespace="ns",
                                                agents=["fastmon-ns-1"], is_read=reads_only)
    assert [e.kind for e in entries] == ["stop_workflow", "restart_agent"]  # the read and the unrelated kill are left out
    stop = entries[0]
    assert (stop.source, stop.actor, stop.client) == ("gateway", "alice", "claude-code")
    assert stop.summary == 'stop_workflow({"execution_id":"x-1"}) reason: beam dump requested by shift leader'
    assert [a.tool for a in actions] == ["stop_workflow"]  # the debugger's own call is not a principal's act
    assert actions[0].describe().startswith("stopped by alice via claude-code at ")
    assert actions[0].describe().endswith("reason: beam dump requested by shift leader")
    # the same actions are read back from served entries (the node's timeline)
    again = actions_from(entries)
    assert [(a.tool, a.arguments, a.reason) for a in again] == [(a.tool, a.arguments, a.reason) for a in actions]


def _kill(minutes_ago: float, name: str = "fastmon-ns-1") -> Action:
    return Action(entry_id="c1", tool="kill_agent", principal="alice", client="claude-code",
                  at=datetime.now(UTC) - timedelta(minutes=minutes_ago), reason="host swap", arguments={"name": name})


def test_a_fix_that_undoes_a_recent_action_is_found_within_the_window_only() -> None:
    ev = Evidence(namespace="ns", agents=[AgentView(name="fastmon-ns-1", status="EXITED")], actions=[_kill(5)])
    restart = FixProposal(fix="restart_agent", arguments={"name": "fastmon-ns-1"})
    assert intent.undone_by(restart, ev, timedelta(hours=1)) == ev.actions[0]
    assert intent.undone_by(restart, ev, timedelta(minutes=1)) is None
    assert intent.undone_by(FixProposal(fix="restart_agent", arguments={"name": "other"}), ev, timedelta(hours=1)) is None
    scaled = Action(entry_id="c2", tool="send_message", principal="bob", at=datetime.now(UTC),
                    arguments={"namespace": "ns", "msg_type": "scale_workers", "body": {"count": 1}})
    ev.actions.append(scaled)
    assert intent.undone_by(FixProposal(fix="scale_workers", arguments={"count": 4}), ev, timedelta(hours=1)) == scaled
    diagnosis = rules.agent_crashed(ev)
    assert diagnosis is not None and "killed fastmon-ns-1 by alice via claude-code" in diagnosis.summary
    assert diagnosis.cites[0] == "c1"


def test_premise_and_citations_are_checked_against_the_evidence() -> None:
    ev = Evidence(namespace="ns", agents=[AgentView(name="a1", status="READY")])
    ev.timeline = [Entry(id="l7", t=datetime.now(UTC), source="log", kind="ERROR", summary="boom")]
    assert premise.contradiction(FixProposal(fix="restart_agent", arguments={"name": "a1"}), ev) == "agent a1 is READY, not down"
    assert "not among" in (premise.contradiction(FixProposal(fix="restart_agent", arguments={"name": "zz"}), ev) or "")
    cited = Diagnosis(failure="unknown", summary="?", cites=["l7", "c_made_up"])
    assert premise.citation_problem(cited, ev) == "the diagnosis cites entries that are not in the timeline: c_made_up"
    assert premise.citation_problem(Diagnosis(failure="unknown", summary="?"), ev) == "the diagnosis cites no timeline entry"
    assert premise.citation_problem(Diagnosis(failure="unknown", summary="?", cites=["l7"]), ev) is None


def test_baseline_ranks_parameters_then_the_largest_changes() -> None:
    before = [Metrics(execution_id=f"b{i}", duration_s=10.0, slice_latency_p50_ms=150.0, slices={"done": 45},
                      parameters={"slice_processing_time": 30.0}) for i in range(3)]
    now = Metrics(execution_id="n", duration_s=10.5, slice_latency_p50_ms=900.0, slices={"done": 40, "failed": 5},
                  parameters={"slice_processing_time": 30.0})
    diffs = baseline.compare(now, before)
    assert [d.metric for d in diffs] == ["failed slices", "slice latency p50"]  # duration moved 5 %: not a difference
    assert diffs[1].text == "slice latency p50 900 ms vs 150 ms (x6.0)"
    assert baseline.compare(now, []) == []


def test_page_fits_the_budget_and_the_policy_reads_the_window(tmp_path: Path) -> None:
    entries = [Entry(id=f"l{i}", t=datetime.now(UTC), source="log", kind="WARNING", actor="a", summary="x" * 150)
               for i in range(100)]
    chosen, more, end = page(entries, limit=100, budget_chars=6000)
    assert more and end == len(chosen) and sum(e.size() for e in chosen) <= 6000
    policy = tmp_path / "policy.toml"
    policy.write_text("intent_window_s = 600\n")
    assert load_policy(policy).intent_window_s == 600


def test_the_same_fix_for_the_same_subject_waits_once() -> None:
    from agents.ai.debugger.loop import Approvals, DebugReport

    approvals = Approvals()
    fix = FixProposal(fix="restart_agent", arguments={"name": "fastmon-ns-1"})
    first = approvals.add(DebugReport(principal="controlroom-watcher", namespace="ns", fix=fix), Evidence())
    again = approvals.add(DebugReport(principal="controlroom-watcher", namespace="ns", fix=fix), Evidence())
    other = approvals.add(DebugReport(principal="alice", namespace="ns", fix=fix), Evidence())
    assert first == again != other and len(approvals.list()) == 2


async def test_records_are_read_in_chunks_and_the_newest_kept(store: ProvStore) -> None:
    from agents.ai.debugger.timeline import _rows_since
    from prov_agent.chain import time_text

    since = datetime.now(UTC) - timedelta(seconds=5)
    async with ProvWriter(store) as writer:
        rec = Recorder(writer, stream="gateway")
        for i in range(5):
            rec.gateway_call("alice", "cli", None, "stop_workflow", {"execution_id": f"x-{i}"}, "n1", "entity", "ok", 0.01)
        await writer.flush()
    rows = await _rows_since(store, time_text(since.timestamp()), max_records=3, chunk=2)
    tools = [next(e for e in json.loads(r.body)["elements"] if e["class"] == "AgentTool") for r in rows]
    assert [t["attrs"]["arguments"] for t in tools] == \
        ['{"execution_id":"x-2"}', '{"execution_id":"x-3"}', '{"execution_id":"x-4"}']


def test_a_stopped_testbed_or_execution_is_intent_only_when_a_principal_stopped_it() -> None:
    stop = Action(entry_id="c9", tool="stop_testbed", principal="alice", client="claude-code", at=datetime.now(UTC),
                  reason="maintenance window", arguments={"namespace": "ns"})
    testbed = Evidence(namespace="ns", testbed={"status": "stopped", "ready": False}, actions=[stop])
    found = rules.diagnose(testbed)
    assert found is not None and found.failure == "operator_action" and found.cites[0] == "c9"
    assert found.summary.endswith("reason: maintenance window.")
    # the same terminated execution without anyone's stop is not intent
    execution = {"status": "terminated", "end_time": datetime.now(UTC).isoformat()}
    assert rules.operator_action(Evidence(namespace="ns", execution_id="x-1", execution=execution)) is None
    stopped = Evidence(namespace="ns", execution_id="x-1", execution=execution, actions=[stop])
    assert rules.operator_action(stopped) is not None
    # a stop made after the execution had ended explains nothing
    late = stop.model_copy(update={"at": datetime.now(UTC) + timedelta(minutes=5)})
    assert rules.operator_action(Evidence(namespace="ns", execution_id="x-1", execution=execution, actions=[late])) is None
