"""The characterization of one execution (what ``pegasus-statistics`` gives Pegasus users), read
only through MCP tools, so the web monitor (through the gateway's call chain) and
``controlroom workflow stats`` (an MCP client of the gateway) print the same numbers.

Source: one ``get_execution_statistics`` call (computed in SQL on the node: time per DAQ phase,
STF count and cadence, slices by status, retries, slice latency p50/p90/p99 and its histogram,
queue wait, processing time, throughput, per-worker processing time, slices finished over time,
warnings and agent restarts, a task workflow's wall vs. compute and per-worker compute).

Example::

    stats = await characterize(tools, "stf_datataking-alice-0001")
    print(render_table(stats.rows()))
"""

from __future__ import annotations

import csv
import io
from typing import Any, Protocol

from pydantic import BaseModel, Field

from workflows.store.records import ExecutionStatistics, HistogramBin, TaskTotals


class Tools(Protocol):
    """Anything that calls an MCP tool and returns its structured result (``ToolCaller``)."""

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]: ...


class WorkerStats(BaseModel):
    """What one slice worker did."""

    worker: str
    slices_done: int = 0
    slices_failed: int = 0
    retries: int = 0
    processing_s: float = Field(0.0, description="summed processing time of its slices")
    mean_ms: float | None = Field(None, description="mean processing time per slice")
    busy_span_s: float | None = Field(None, description="its first processing start to its last finish")


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
    slice_latency_p90_ms: float | None = None
    slice_latency_p99_ms: float | None = None
    latency_histogram: list[HistogramBin] = Field(default_factory=list, description="fixed log-spaced bins, five per decade, ms")
    queue_wait_p50_ms: float | None = None
    queue_wait_p99_ms: float | None = None
    processing_p50_ms: float | None = None
    processing_p99_ms: float | None = None
    slices_per_s: float | None = None
    agent_restarts: int = 0
    warnings: int = 0
    workers: list[WorkerStats] = Field(default_factory=list)
    workers_total: int = 0
    completions: list[tuple[float, int]] = Field(default_factory=list, description="(seconds from the first, slices finished)")
    tasks: TaskTotals | None = Field(None, description="a task workflow's wall vs. summed task compute")

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
                ("slices", "latency_p90_ms", _num(self.slice_latency_p90_ms)),
                ("slices", "latency_p99_ms", _num(self.slice_latency_p99_ms)),
                ("slices", "queue_wait_p50_ms", _num(self.queue_wait_p50_ms)),
                ("slices", "queue_wait_p99_ms", _num(self.queue_wait_p99_ms)),
                ("slices", "processing_p50_ms", _num(self.processing_p50_ms)),
                ("slices", "processing_p99_ms", _num(self.processing_p99_ms)),
                ("slices", "throughput_per_s", _num(self.slices_per_s))]
        out += [("latency histogram", bin_label(b), str(b.count)) for b in self.latency_histogram]
        out += [("agents", "restarts", str(self.agent_restarts)), ("agents", "warnings_and_errors", str(self.warnings))]
        for worker in self.workers:
            out.append(("worker", worker.worker, f"{worker.slices_done} done, {worker.slices_failed} failed, "
                        f"{worker.retries} retries, processing {worker.processing_s:g} s (mean {_num(worker.mean_ms)} ms), "
                        f"busy {_num(worker.busy_span_s)} s"))
        if self.workers_total > len(self.workers):
            out.append(("note", "workers", f"the {len(self.workers)} busiest of {self.workers_total} workers"))
        if self.tasks is not None:
            out += [("tasks", "status", self.tasks.status or ""), ("tasks", "succeeded", str(self.tasks.succeeded)),
                    ("tasks", "failed", str(self.tasks.failed)), ("tasks", "retried", str(self.tasks.retried)),
                    ("tasks", "wall_s", _num(self.tasks.wall_s)), ("tasks", "compute_s", _num(self.tasks.compute_s)),
                    ("tasks", "wall_to_compute", _num(self.tasks.wall_to_compute))]
            for task_worker in self.tasks.workers:
                out.append(("task worker", task_worker.worker, f"{task_worker.tasks} tasks, {task_worker.failed} failed, "
                            f"compute {task_worker.compute_s:g} s (mean {_num(task_worker.mean_ms)} ms)"))
            if self.tasks.workers_total > len(self.tasks.workers):
                out.append(("note", "task workers",
                            f"the {len(self.tasks.workers)} busiest of {self.tasks.workers_total} task workers"))
        return out

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["section", "metric", "value"])
        writer.writerows(self.rows())
        return buffer.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def bin_label(item: HistogramBin) -> str:
    """``"100-200 ms"``, or ``">= 500000 ms"`` for the open last bin."""
    if item.high_ms is None:
        return f">= {item.low_ms:g} ms"
    return f"{item.low_ms:g}-{item.high_ms:g} ms"


async def characterize(tools: Tools, execution_id: str) -> Characterization:
    """Read the execution's statistics through ``tools`` (one call) as the characterization."""
    stats = ExecutionStatistics.model_validate(
        await tools.call("get_execution_statistics", {"execution_id": execution_id}))
    width = stats.completion_bin_s or 0.0
    return Characterization(
        execution_id=execution_id, namespace=stats.namespace, status=stats.status,
        duration_s=stats.duration_s, phases=stats.phases,
        stf_count=stats.stf_count, stf_interval_s=stats.stf_interval_s,
        slices={k: v for k, v in stats.slices.items() if v}, retries=stats.retries,
        slice_latency_p50_ms=stats.latency.p50_ms, slice_latency_p90_ms=stats.latency.p90_ms,
        slice_latency_p99_ms=stats.latency.p99_ms, latency_histogram=stats.latency_histogram,
        queue_wait_p50_ms=stats.queue_wait.p50_ms, queue_wait_p99_ms=stats.queue_wait.p99_ms,
        processing_p50_ms=stats.processing.p50_ms, processing_p99_ms=stats.processing.p99_ms,
        slices_per_s=stats.slices_per_s, agent_restarts=stats.agent_restarts, warnings=stats.warnings,
        workers=[WorkerStats(worker=w.worker, slices_done=w.done, slices_failed=w.failed, retries=w.retries,
                             processing_s=w.processing_s, mean_ms=w.mean_ms, busy_span_s=w.busy_span_s)
                 for w in stats.workers],
        workers_total=stats.workers_total,
        completions=[(round(i * width, 3), count) for i, count in enumerate(stats.completions)],
        tasks=stats.tasks)


def render_table(rows: list[tuple[str, str, str]]) -> str:
    """The rows as aligned text (the CLI's output)."""
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(2)]
    header = f"{'section'.ljust(widths[0])}  {'metric'.ljust(widths[1])}  value"
    return "\n".join([header, *(f"{a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}" for a, b, c in rows)])
