"""The failure catalog and the policy gate, on evidence built the way `gather` builds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.ai.debugger import rules
from agents.ai.debugger.evidence import AgentView, Evidence, LogView
from agents.ai.debugger.fixes import CATALOG
from agents.ai.debugger.policy import Policy, load_policy


def ev(**kwargs: object) -> Evidence:
    return Evidence(namespace="ns1", execution_id="stf_datataking-alice-0001", **kwargs)  # type: ignore[arg-type]


def log(message: str, level: str = "ERROR") -> LogView:
    return LogView(agent="x", levelname=level, message=message)


CASES = {
    "broker_unreachable": ev(logs=[log("STOMP connect to 127.0.0.1:61613 failed: Connection refused")]),
    "database_unavailable": ev(tool_errors={"list_logs": "database unavailable: connection refused"}),
    "disk_full": ev(logs=[log("OSError: [Errno 28] No space left on device")]),
    "missing_config": ev(execution={"status": "failed", "error": "config file not found: nope.toml"}),
    "invalid_parameter": ev(execution={"status": "failed", "error": "parameter 'stf_count' must be >= 1, got -3"}),
    "testbed_already_running": ev(logs=[log("testbed already running in namespace ns1", "WARNING")]),
    "agent_crashed": ev(agents=[AgentView(name="data-agent-ns1-1", status="EXITED", restarts=3)]),
    "worker_payload_errors": ev(monitor={"slices": {"done": 10, "failed": 20, "queued": 0}}),
    "slice_backlog": ev(monitor={"slices": {"queued": 300, "done": 5}, "workers_active": 2}),
    "stuck_execution": ev(
        execution={"status": "running", "parameters": {"stf_interval": 2.0}},
        monitor={"last_event_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()},
    ),
}


@pytest.mark.parametrize("failure", sorted(CASES))
def test_each_class_is_diagnosed_by_its_rule(failure: str) -> None:
    found = rules.diagnose(CASES[failure])
    assert found is not None and found.failure == failure
    assert found.evidence and found.fixes
    assert all(p.fix in CATALOG for p in found.fixes)
    assert found.rules_considered[-1] == failure


def test_healthy_evidence_matches_no_rule() -> None:
    healthy = ev(
        execution={"status": "completed", "parameters": {}},
        monitor={"slices": {"done": 150, "failed": 0, "queued": 0}, "workers_active": 30},
        agents=[AgentView(name="data-agent-ns1-1", status="READY")],
        testbed={"status": "ready", "ready": True},
    )
    assert rules.diagnose(healthy) is None


def test_invalid_parameter_proposes_the_corrected_value() -> None:
    found = rules.diagnose(CASES["invalid_parameter"])
    assert found is not None
    assert found.fixes[0].arguments == {"parameter": "stf_count", "value": 1}


def test_causes_win_over_symptoms() -> None:
    both = ev(
        logs=[log("STOMP: broker unreachable (connection refused)")],
        agents=[AgentView(name="data-agent-ns1-1", status="EXITED")],
    )
    found = rules.diagnose(both)
    assert found is not None and found.failure == "broker_unreachable"


def test_policy_layers(tmp_path: Path) -> None:
    policy = Policy()
    assert policy.verdict(CATALOG["restart_agent"]) == "AUTO"
    assert policy.verdict(CATALOG["rerun_with_parameter"]) == "ASK"
    assert policy.verdict(CATALOG["free_space"]) == "ASK"
    assert policy.verdict(CATALOG["report_only"]) == "AUTO"
    file = tmp_path / "policy.toml"
    file.write_text('[default]\nagent = "STOP"\n[principals.alice]\nagent = "AUTO"\n[principals.alice.fixes]\nfree_space = "AUTO"\n')
    loaded = load_policy(file)
    assert loaded.verdict(CATALOG["restart_agent"], "bob") == "STOP"
    assert loaded.verdict(CATALOG["restart_agent"], "alice") == "AUTO"
    assert loaded.verdict(CATALOG["free_space"], "alice") == "AUTO"
    assert loaded.verdict(CATALOG["scale_workers"], "bob") == "STOP"  # no rule for testbed: STOP when unsure


def test_bad_policy_file_names_the_field(tmp_path: Path) -> None:
    file = tmp_path / "policy.toml"
    file.write_text('[default]\nagent = "MAYBE"\n')
    with pytest.raises(ValueError, match=r"default\.agent.*AUTO, ASK or STOP"):
        load_policy(file)
    with pytest.raises(ValueError, match="does not exist"):
        load_policy(tmp_path / "missing.toml")
