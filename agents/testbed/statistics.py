"""The characterization of one execution (what ``pegasus-statistics`` gives Pegasus users), read
only through MCP tools, so the web monitor (through the gateway's call chain) and
``controlroom workflow stats`` (an MCP client of the gateway) print the same numbers.

Sources: ``get_execution_timeline``'s metrics (time per DAQ phase, STF cadence, slice counts,
latency p50/p99, throughput, restarts, warnings) and every page of ``list_tf_slices`` (per worker:
slices, retries, failures, the span it processed in; completions over time). The slice list
carries no request or start times, so the latency histogram and queue wait are not computed
here (`Characterization.not_measured` says so).

Example::

    stats = await characterize(tools, "stf_datataking-alice-0001")
    print(render_table(stats.rows()))
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

MAX_SLICES = 20_000
PAGE = 200
TIME_BINS = 30


class Tools(Protocol):
    """Anything that calls an MCP tool and returns its structured result (``ToolCaller``)."""

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]: ...


class WorkerStats(BaseModel):
    """What one slice worker did."""

    worker: str
    slices_done: int = 0
    slices_failed: int = 0
    retries: int = 0
    busy_span_s: float | None = Field(None, description="first to last slice it finished")


class Characterization(BaseModel):
    """The numbers of one execution, as a table (`rows`) and as JSON."""

    execution_id: str
    namespace: str | None = None
    status: str | None = None
    duration_s: float | None = None
    phases: dict[str, float] = Field(default_factory=dict, description="seconds per DAQ state/substate")
    stf_count: int = 0
    stf_interval_s: float | None = None
    slices: dict[str, int] = Field(default_factory=dict)
    retries: int = 0
    slice_latency_p50_ms: float | None = None
    slice_latency_p99_ms: float | None = None
    slices_per_s: float | None = None
    agent_restarts: int = 0
    warnings: int = 0
    workers: list[WorkerStats] = Field(default_factory=list)
    completions: list[tuple[float, int]] = Field(default_factory=list, description="(seconds from the first, slices finished)")
    slices_read: int = 0
    slices_truncated: bool = False
    not_measured: list[str] = Field(default_factory=lambda: [
        "slice latency histogram and queue wait: list_tf_slices carries no request/start times",
        "wall-to-compute: only for task workflows (tasks/summary), not a DAQ execution"])

    def rows(self) -> list[tuple[str, str, str]]:
        """(section, metric, value): the one table the page, the CSV and the CLI show."""
        out: list[tuple[str, str, str]] = [
            ("execution", "execution_id", self.execution_id), ("execution", "namespace", self.namespace or ""),
            ("execution", "status", self.status or ""), ("execution", "duration_s", _num(self.duration_s)),
        ]
        total = sum(self.phases.values()) or 1.0
        for phase, seconds in self.phases.items():
            out.append(("daq phase", phase, f"{seconds:.3f} s ({100 * seconds / total:.1f}%)"))
        out += [("stf", "stf_count", str(self.stf_count)), ("stf", "stf_interval_s (median)", _num(self.stf_interval_s))]
        for status, count in sorted(self.slices.items()):
            out.append(("slices", status, str(count)))
        out += [("slices", "retries", str(self.retries)),
                ("slices", "latency_p50_ms", _num(self.slice_latency_p50_ms)),
                ("slices", "latency_p99_ms", _num(self.slice_latency_p99_ms)),
                ("slices", "throughput_per_s", _num(self.slices_per_s)),
                ("agents", "restarts", str(self.agent_restarts)), ("agents", "warnings_and_errors", str(self.warnings))]
        for worker in self.workers:
            out.append(("worker", worker.worker, f"{worker.slices_done} done, {worker.slices_failed} failed, "
                        f"{worker.retries} retries, busy {_num(worker.busy_span_s)} s"))
        if self.slices_truncated:
            out.append(("note", "slices", f"per-worker numbers from the first {self.slices_read} slices"))
        return out

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["section", "metric", "value"])
        writer.writerows(self.rows())
        return buffer.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


async def characterize(tools: Tools, execution_id: str, max_slices: int = MAX_SLICES) -> Characterization:
    """Read the execution's metrics and slices through ``tools`` and summarize them."""
    timeline = await tools.call("get_execution_timeline", {"execution_id": execution_id, "limit": 1})
    metrics = timeline.get("metrics") or {}
    namespace = timeline.get("namespace")
    slices: list[dict[str, Any]] = []
    cursor: str | None = None
    truncated = False
    while True:
        arguments: dict[str, Any] = {"execution_id": execution_id, "namespace": namespace, "limit": PAGE}
        if cursor:
            arguments["cursor"] = cursor
        page = await tools.call("list_tf_slices", arguments)
        slices.extend(page.get("items", []))
        cursor = page.get("next_cursor")
        if not page.get("has_more") or not cursor:
            break
        if len(slices) >= max_slices:
            truncated = True
            break
    return Characterization(
        execution_id=execution_id, namespace=namespace, status=metrics.get("status") or timeline.get("status"),
        duration_s=metrics.get("duration_s"), phases=metrics.get("phase_s") or {},
        stf_count=metrics.get("stf_count", 0), stf_interval_s=metrics.get("stf_interval_s"),
        slices=metrics.get("slices") or dict(Counter(s["status"] for s in slices)),
        retries=sum(int(s.get("retries") or 0) for s in slices),
        slice_latency_p50_ms=metrics.get("slice_latency_p50_ms"), slice_latency_p99_ms=metrics.get("slice_latency_p99_ms"),
        slices_per_s=metrics.get("slices_per_s"), agent_restarts=metrics.get("agent_restarts", 0),
        warnings=metrics.get("warnings", 0), workers=_workers(slices), completions=_completions(slices),
        slices_read=len(slices), slices_truncated=truncated)


def _workers(slices: list[dict[str, Any]]) -> list[WorkerStats]:
    by_worker: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in slices:
        if item.get("assigned_worker"):
            by_worker[item["assigned_worker"]].append(item)
    out = []
    for worker, items in sorted(by_worker.items()):
        times = sorted(datetime.fromisoformat(i["processed_at"]) for i in items if i.get("processed_at"))
        out.append(WorkerStats(
            worker=worker, slices_done=sum(1 for i in items if i["status"] == "done"),
            slices_failed=sum(1 for i in items if i["status"] == "failed"),
            retries=sum(int(i.get("retries") or 0) for i in items),
            busy_span_s=round((times[-1] - times[0]).total_seconds(), 3) if len(times) > 1 else None))
    return out


def _completions(slices: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """Slices finished per time bin, seconds from the first finish."""
    times = sorted(datetime.fromisoformat(s["processed_at"]) for s in slices if s.get("processed_at"))
    if not times:
        return []
    span = max((times[-1] - times[0]).total_seconds(), 1e-6)
    width = span / TIME_BINS
    counts = [0] * TIME_BINS
    for moment in times:
        counts[min(int((moment - times[0]).total_seconds() / width), TIME_BINS - 1)] += 1
    return [(round(i * width, 3), count) for i, count in enumerate(counts)]


def render_table(rows: list[tuple[str, str, str]]) -> str:
    """The rows as aligned text (the CLI's output)."""
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(2)]
    header = f"{'section'.ljust(widths[0])}  {'metric'.ljust(widths[1])}  value"
    return "\n".join([header, *(f"{a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}" for a, b, c in rows)])
