"""Baselines: what differs from the same config's previous executions, ranked, with numbers.

When no rule fits and no LLM is configured, "undiagnosed" is not an answer. ``previous`` reads
the metrics of up to ``n`` earlier completed executions of the same workflow and config name in
the namespace (through ``list_workflow_executions`` and ``get_execution_timeline``); ``compare``
ranks what differs: parameters first (a change between runs explains the rest), then phase
durations, STF cadence, slice latency and throughput, failed slices, agent restarts, warnings.
A metric differs when it moved by at least ``RATIO`` either way (or from zero for counts).

>>> now = Metrics(execution_id="b", slice_latency_p50_ms=1500.0, parameters={"slice_processing_time": 3.0})
>>> before = [Metrics(execution_id="a", slice_latency_p50_ms=150.0, parameters={"slice_processing_time": 0.3})]
>>> [d.text for d in compare(now, before)]
['parameter slice_processing_time 3.0 (was 0.3)', 'slice latency p50 1500 ms vs 150 ms (x10.0)']
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from pydantic import BaseModel

from agents.ai.debugger.evidence import Evidence, ToolCaller, ToolFailed
from agents.ai.debugger.timeline import Metrics

RATIO = 1.5
IGNORED_PARAMETERS = {"execution_id", "namespace"}


class Difference(BaseModel):
    metric: str
    now: Any
    before: Any
    score: float
    text: str


async def previous(tools: ToolCaller, ev: Evidence, n: int = 3) -> list[Metrics]:
    """Metrics of the ``n`` latest completed executions with this one's workflow and config name."""
    execution = ev.execution or {}
    if not execution or not ev.namespace:
        return []
    config = execution.get("config_name") or (execution.get("config") or {}).get("name")
    try:
        page = await tools.call("list_workflow_executions", {"namespace": ev.namespace, "status": "completed",
                                                             "workflow_name": execution.get("workflow_name"), "limit": 50})
    except ToolFailed:
        return []
    found: list[Metrics] = []
    for item in page.get("items", []):
        if len(found) >= n:
            break
        if item.get("execution_id") == ev.execution_id or item.get("config_name") != config \
                or bool(item.get("realtime")) != bool(execution.get("realtime")) \
                or str(item.get("start_time")) >= str(execution.get("start_time")):
            continue
        try:
            timeline = await tools.call("get_execution_timeline", {"execution_id": item["execution_id"], "limit": 1})
        except ToolFailed:
            continue
        if timeline.get("metrics"):
            found.append(Metrics.model_validate(timeline["metrics"]))
    return found


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio_score(now: float | None, before: float | None) -> float:
    if now is None or before is None or now <= 0 or before <= 0:
        return 0.0
    return abs(math.log(now / before))


def compare(now: Metrics, before: list[Metrics]) -> list[Difference]:
    """What differs between ``now`` and the median of ``before``, most different first."""
    if not before:
        return []
    diffs: list[Difference] = []
    last = before[0].parameters
    for key in sorted(set(now.parameters) | set(last)):
        if key in IGNORED_PARAMETERS or now.parameters.get(key) == last.get(key):
            continue
        diffs.append(Difference(metric=f"parameter {key}", now=now.parameters.get(key), before=last.get(key), score=100.0,
                                text=f"parameter {key} {now.parameters.get(key)} (was {last.get(key)})"))

    def ratio(metric: str, value: float | None, values: list[float | None], unit: str, fmt: str = "{:.0f}") -> None:
        base = _median([v for v in values if v is not None])
        score = _ratio_score(value, base)
        if value is None or base is None or score < math.log(RATIO):
            return
        diffs.append(Difference(metric=metric, now=value, before=base, score=score,
                                text=f"{metric} {fmt.format(value)}{unit} vs {fmt.format(base)}{unit} (x{value / base:.1f})"))

    def count(metric: str, value: int, values: list[int]) -> None:
        base = _median([float(v) for v in values]) or 0.0
        if value > base and (base == 0 or value / base >= RATIO):
            diffs.append(Difference(metric=metric, now=value, before=base, score=10.0 + min(value - base, 50),
                                    text=f"{metric} {value} vs {base:g} before"))

    ratio("duration", now.duration_s, [b.duration_s for b in before], " s", "{:.1f}")
    for phase, seconds in now.phase_s.items():
        ratio(f"phase {phase}", seconds, [b.phase_s.get(phase) for b in before], " s", "{:.1f}")
    ratio("STF interval", now.stf_interval_s, [b.stf_interval_s for b in before], " s", "{:.3f}")
    ratio("slice latency p50", now.slice_latency_p50_ms, [b.slice_latency_p50_ms for b in before], " ms")
    ratio("slice latency p99", now.slice_latency_p99_ms, [b.slice_latency_p99_ms for b in before], " ms")
    ratio("slice throughput", now.slices_per_s, [b.slices_per_s for b in before], "/s", "{:.2f}")
    count("failed slices", now.slices.get("failed", 0), [b.slices.get("failed", 0) for b in before])
    count("agent restarts", now.agent_restarts, [b.agent_restarts for b in before])
    count("warnings", now.warnings, [b.warnings for b in before])
    return sorted(diffs, key=lambda d: -d.score)


def explain(ev: Evidence, diffs: list[Difference]) -> tuple[str, list[str]]:
    """A summary line naming the top differences and who changed the parameters (with citations)."""
    start = ev.entry("x-start")
    cites: list[str] = []
    for d in diffs[:4]:
        cites.extend(_sources(ev, d.metric) or [f"m:{d.metric}"])
    cites = list(dict.fromkeys(cites))
    top = "; ".join(d.text for d in diffs[:4])
    changed = any(d.metric.startswith("parameter") for d in diffs)
    who = ""
    if changed and start is not None and start.actor:
        reason = start.summary.split("; ", 1)[0] if start.summary.startswith("reason: ") else "no reason given"
        who = f" (parameters chosen by {start.actor}, who started this run at {start.t:%H:%M:%S} ({start.id}), {reason})"
    n = len(ev.baseline)
    return f"Differs from the config's {n} previous execution{'s' if n != 1 else ''}: {top}{who}.", cites


def _sources(ev: Evidence, metric: str) -> list[str]:
    """Timeline entries behind a metric (the start for parameters, the phase's DAQ event, log rows)."""
    if metric.startswith("parameter"):
        return [e.id for e in ev.timeline if e.id == "x-start"]
    if metric.startswith("phase "):
        phase = metric.removeprefix("phase ")
        return [e.id for e in ev.timeline if e.source == "daq" and e.summary.startswith(phase)][:1]
    if metric in ("failed slices", "warnings"):
        return [e.id for e in ev.timeline if e.source == "log" and e.kind in ("WARNING", "ERROR", "CRITICAL")][:2]
    if metric == "agent restarts":
        return [e.id for e in ev.timeline if e.source == "log" and "restart" in e.summary][:2]
    return []
