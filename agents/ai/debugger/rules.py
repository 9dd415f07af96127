"""The failure catalog: deterministic rules over ``Evidence``, tried before any LLM.

Each rule looks for one failure class and, when it matches, returns a ``Diagnosis`` naming the
class, the evidence it rests on and the fixes it proposes (most specific first). Rules are
ordered from causes to symptoms: a broker or a database that is down explains crashed agents
and a stuck execution, so those come first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from agents.ai.debugger import intent
from agents.ai.debugger.evidence import Evidence

FailureClass = Literal[
    "operator_action",
    "broker_unreachable",
    "broker_reconnected",
    "database_unavailable",
    "disk_full",
    "missing_config",
    "invalid_parameter",
    "testbed_already_running",
    "agent_crashed",
    "worker_payload_errors",
    "slice_backlog",
    "stuck_execution",
    "degraded",
    "unknown",
]


class FixProposal(BaseModel):
    """A fix from the catalog with its arguments."""

    fix: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    why: str = ""


class Diagnosis(BaseModel):
    failure: FailureClass
    summary: str
    evidence: list[str] = Field(default_factory=list)
    fixes: list[FixProposal] = Field(default_factory=list)
    cites: list[str] = Field(default_factory=list, description="ids of the timeline entries the diagnosis rests on")
    deliberate: list[str] = Field(default_factory=list, description="principals' actions behind the state, in words")
    diagnosed_by: Literal["rules", "llm", "baseline"] = "rules"
    rules_considered: list[str] = Field(default_factory=list)


Rule = Callable[[Evidence], Diagnosis | None]

# Thresholds, named so a reader sees what "too many" means.
SLICE_FAILURE_RATE = 0.2
BACKLOG_PER_WORKER = 4
STUCK_INTERVALS = 5


def operator_action(ev: Evidence) -> Diagnosis | None:
    """A terminated execution or a stopped testbed that a principal stopped: intent, not a failure."""
    stop = intent.stop_explaining(ev)
    if stop is None:
        return None
    what = "The execution was" if ev.execution_id else "The testbed was"
    cites = [stop.entry_id] + [e.id for e in ev.timeline if e.id == "x-end"]
    return Diagnosis(
        failure="operator_action",
        summary=f"{what} {stop.describe()}.",
        evidence=[stop.describe()],
        cites=cites,
        deliberate=[stop.describe()],
        fixes=[FixProposal(fix="report_only", why="nothing broke: it was stopped on purpose; start it again when the reason is gone")],
    )


def broker_unreachable(ev: Evidence) -> Diagnosis | None:
    text = ev.mentions("broker unreachable", "stomp", "61613", "activemq")
    if text and ev.mentions("refused", "unreachable", "not connected", "connect failed"):
        return Diagnosis(
            failure="broker_unreachable",
            summary="The message broker does not answer; agents cannot exchange messages.",
            evidence=[text],
            fixes=[FixProposal(fix="report_only", why="start the broker (e.g. `.ci/activemq.sh start`), then restart the testbed")],
        )
    return None


def broker_reconnected(ev: Evidence) -> Diagnosis | None:
    """The broker connection dropped, and the testbed is ready again: transient, nothing to fix."""
    text = ev.mentions("lost the stomp connection", "connection to the broker dropped")
    if not text or ev.testbed is None or not ev.testbed.get("ready"):
        return None
    back = [e.id for e in ev.timeline if "reconnected to" in e.summary]
    return Diagnosis(
        failure="broker_reconnected",
        summary="The broker connection dropped and the agents reconnected; the testbed is ready.",
        evidence=[text] + (["the agents logged 'reconnected'"] if back else []),
        cites=back[-1:],
        fixes=[FixProposal(fix="report_only", why="nothing to fix now; if it repeats, check the broker and the network")],
    )


def database_unavailable(ev: Evidence) -> Diagnosis | None:
    text = ev.mentions(
        "database unavailable", "database is unavailable", "store unavailable", "could not connect to server", "database is locked",
        "not currently accepting connections", "terminating connection due to administrator command",
    )
    if text:
        return Diagnosis(
            failure="database_unavailable",
            summary="The store's database does not answer.",
            evidence=[text],
            fixes=[FixProposal(fix="report_only", why="start the database (PostgreSQL) or free the SQLite file's lock, then retry")],
        )
    return None


def disk_full(ev: Evidence) -> Diagnosis | None:
    text = ev.mentions("no space left on device", "disk full", "database or disk is full")
    if text:
        return Diagnosis(
            failure="disk_full",
            summary="The state directory's disk is full.",
            evidence=[text],
            fixes=[FixProposal(fix="free_space", arguments={"older_than": "P1D"}, why="prune messages, logs and finished executions older than a day")],
        )
    return None


_MISSING_FILE = re.compile(r"(config|include|workflow)\b.*\bnot found\b", re.IGNORECASE)


def missing_config(ev: Evidence) -> Diagnosis | None:
    text = ev.mentions("config file not found", "no such config", "unknown config", "include not found", "missing include")
    text = text or next((t for t in ev.texts() if _MISSING_FILE.search(t)), None)
    if text:
        return Diagnosis(
            failure="missing_config",
            summary="A workflow or config file the run needs does not exist.",
            evidence=[text],
            fixes=[FixProposal(fix="report_only", why="pick an existing config (list_workflow_definitions shows them) or add the file")],
        )
    return None


_PARAM = re.compile(r"parameter '?(?P<name>[a-z_]+)'?", re.IGNORECASE)
_RANGE = re.compile(r"(?:>=|at least|minimum(?: is)?)\s*(?P<min>-?\d+(?:\.\d+)?)", re.IGNORECASE)


def invalid_parameter(ev: Evidence) -> Diagnosis | None:
    text = ev.mentions("unknown parameter", "invalid parameter", "out of range", "greater than or equal", "must be")
    if not text:
        return None
    match = _PARAM.search(text)
    arguments: dict[str, Any] = {}
    if match:
        arguments["parameter"] = match.group("name")
        low = _RANGE.search(text)
        if low:
            arguments["value"] = float(low.group("min")) if "." in low.group("min") else int(low.group("min"))
    return Diagnosis(
        failure="invalid_parameter",
        summary="A workflow parameter is unknown or out of its range.",
        evidence=[text],
        fixes=[FixProposal(fix="rerun_with_parameter", arguments=arguments, why="correct the parameter and run again")],
    )


def testbed_already_running(ev: Evidence) -> Diagnosis | None:
    text = ev.mentions("already running")
    if text:
        return Diagnosis(
            failure="testbed_already_running",
            summary="A testbed is already running in this namespace; a second one was not started.",
            evidence=[text],
            fixes=[FixProposal(fix="report_only", why="use the running testbed (get_testbed_status), or stop_testbed first")],
        )
    return None


def agent_crashed(ev: Evidence) -> Diagnosis | None:
    members = {a.get("name") for a in (ev.testbed or {}).get("agents") or [] if isinstance(a, dict)}
    # an agent the testbed no longer counts (a worker scaled down) exited on purpose
    down = [a for a in ev.agents if a.status in ("EXITED", "STARTING") and (not members or a.name in members)]
    not_ready = ev.testbed is not None and ev.testbed.get("status") not in ("stopped", None) and not ev.testbed.get("ready", True)
    if not down and not not_ready:
        return None
    cited = [f"agent {a.name} is {a.status} (restarts {a.restarts})" for a in down] or ["the testbed is not ready"]
    kills = intent.kills_of(ev, [a.name for a in down])
    summary = "An agent of the testbed crashed or never became ready."
    if kills and len(kills) == len(down):
        summary = "Agents are down because a principal killed them: " + "; ".join(k.describe() for k in kills.values()) + "."
    elif kills:
        summary = "Agents are down; some were killed by a principal: " + "; ".join(k.describe() for k in kills.values()) + "."
    return Diagnosis(
        failure="agent_crashed",
        summary=summary,
        evidence=cited,
        cites=[k.entry_id for k in kills.values()] + [f"a-{a.name}" for a in down if ev.entry(f"a-{a.name}")],
        deliberate=[k.describe() for k in kills.values()],
        fixes=[FixProposal(fix="restart_agent", arguments={"name": a.name}, why="restart the agent") for a in down]
        or [FixProposal(fix="restart_testbed", arguments={"namespace": ev.namespace}, why="restart the testbed")],
    )


def _slices(ev: Evidence) -> dict[str, int]:
    monitor = ev.monitor or {}
    raw = monitor.get("slices") or monitor.get("slice_counts") or {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int | float)}


def worker_payload_errors(ev: Evidence) -> Diagnosis | None:
    slices = _slices(ev)
    resolved = slices.get("done", 0) + slices.get("failed", 0)
    if resolved == 0 or slices.get("failed", 0) / resolved <= SLICE_FAILURE_RATE:
        return None
    rate = slices["failed"] / resolved
    text = ev.mentions("payload", "slice failed", "worker error")
    return Diagnosis(
        failure="worker_payload_errors",
        summary=f"{rate:.0%} of resolved slices failed in the workers' payload.",
        evidence=[f"slices {slices}"] + ([text] if text else []),
        fixes=[FixProposal(fix="report_only", why="the payload fails: read get_tf_slice of a failed slice; fix the payload, then re-run")],
    )


def slice_backlog(ev: Evidence) -> Diagnosis | None:
    slices = _slices(ev)
    monitor = ev.monitor or {}
    workers = int(monitor.get("workers_active") or monitor.get("worker_count") or 0)
    queued = slices.get("queued", 0)
    timeouts = ev.mentions("slice timeout", "timed out")
    if queued <= BACKLOG_PER_WORKER * max(workers, 1) and not timeouts:
        return None
    # enough workers to bring the queue under the threshold, at least double the pool
    target = max(workers * 2, workers + 1, 2, -(-queued // BACKLOG_PER_WORKER) + 1)
    scaled = intent.scale_downs(ev)
    return Diagnosis(
        failure="slice_backlog",
        summary=f"{queued} slices wait for {workers} workers."
        + (f" The pool size was chosen: {scaled[-1].describe()}." if scaled else ""),
        cites=[a.entry_id for a in scaled[-1:]],
        deliberate=[a.describe() for a in scaled[-1:]],
        evidence=[f"queued={queued} workers={workers}"] + ([timeouts] if timeouts else []),
        fixes=[FixProposal(fix="scale_workers", arguments={"namespace": ev.namespace, "count": target}, why="add workers")],
    )


def stuck_execution(ev: Evidence) -> Diagnosis | None:
    if ev.status != "running":
        return None
    monitor = ev.monitor or {}
    stamps = [str(e["timestamp"]) for e in monitor.get("recent_events") or [] if isinstance(e, dict) and e.get("timestamp")]
    last = monitor.get("last_event_at") or monitor.get("last_event_time") or max(stamps, default=None) or monitor.get("start_time")
    # one expected interval of wall time: the STF interval, scaled by realtime_factor in real time
    factor = float(ev.parameters.get("realtime_factor") or 1.0) if monitor.get("realtime", True) else 1.0
    interval = float(ev.parameters.get("stf_interval") or 2.0) * float(monitor.get("time_factor") or factor)
    if not last:
        return None
    last_at = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
    if last_at.tzinfo is None:
        last_at = last_at.replace(tzinfo=UTC)
    idle = (ev.collected_at - last_at).total_seconds()
    if idle < STUCK_INTERVALS * max(interval, 1.0):
        return None
    return Diagnosis(
        failure="stuck_execution",
        summary=f"The execution made no progress for {idle:.0f} s ({STUCK_INTERVALS}+ expected intervals).",
        evidence=[f"last event at {last_at.isoformat()}"],
        fixes=[FixProposal(fix="end_execution", arguments={"execution_id": ev.execution_id}, why="end the stuck execution so nothing stays running")],
    )


CATALOG: list[Rule] = [
    operator_action,
    broker_unreachable,
    broker_reconnected,
    database_unavailable,
    disk_full,
    missing_config,
    invalid_parameter,
    testbed_already_running,
    agent_crashed,
    worker_payload_errors,
    slice_backlog,
    stuck_execution,
]


def diagnose(evidence: Evidence, catalog: list[Rule] | None = None) -> Diagnosis | None:
    """The first matching rule's diagnosis, or None when no rule knows this failure."""
    considered: list[str] = []
    for rule in catalog or CATALOG:
        considered.append(rule.__name__)
        found = rule(evidence)
        if found is not None:
            found.rules_considered = considered
            found.cites = cite(evidence, found)
            return found
    return None


def cite(ev: Evidence, diagnosis: Diagnosis) -> list[str]:
    """The diagnosis's own citations plus the timeline entries its evidence texts come from
    (a log row, an agent, the execution's end); the latest DAQ event for rules that read counts."""
    cites = list(diagnosis.cites)
    for text in diagnosis.evidence:
        head = " ".join(text.split())[:60]
        for entry in ev.timeline:
            if entry.source == "daq":
                continue
            if head and (head in entry.summary or entry.summary.split(" (×")[0][:60] in text):
                cites.append(entry.id)
                break
        cites.extend(f"tool:{name}" for name, error in ev.tool_errors.items() if error == text)
        for agent in ev.agents:
            if agent.name in text and ev.entry(f"a-{agent.name}"):
                cites.append(f"a-{agent.name}")
    if ev.execution and ev.execution.get("error") and ev.entry("x-end"):
        cites.append("x-end")
    if not cites:
        latest = [e.id for e in ev.timeline if e.source in ("daq", "node")][-1:]
        cites.extend(latest or [e.id for e in ev.timeline[-1:]])
    return list(dict.fromkeys(cites))
