"""What a task workflow run reports: one record per task and the run's summary.

The scheduler (:mod:`agents.tasks.scheduler`) fills them; the workflow side reads them (the
SPEC.md criteria, the dry run of ``spec generate``, the SimPy bridge), so they live here,
apart from the bus.

Example::

    summary.status, summary.reason, summary.stage_runs
    summary.criterion_values()   # status, duration_s, stage_runs, failed, outputs, metrics
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EventSink", "RunStatus", "TaskRecord", "TaskRunSummary", "TaskState"]

RunStatus = Literal["completed", "failed", "terminated"]
TaskState = Literal["waiting", "sent", "running", "succeeded", "failed"]
EventSink = Callable[[dict[str, Any]], None]


@dataclass
class TaskRecord:
    """One task across its attempts."""

    task_id: str
    stage: str
    round: int
    index: int
    state: TaskState = "waiting"
    attempts: int = 0
    duration_s: float = 0.0
    worker: str | None = None
    error: str | None = None
    outputs: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TaskRunSummary:
    """How a task workflow ended; the names match the SPEC.md criterion results."""

    status: RunStatus
    reason: str | None
    duration_s: float
    compute_s: float
    stage_runs: dict[str, int]
    failed: int
    retries: int
    duplicates: int
    outputs: list[str]
    metrics: dict[str, float]
    tasks: list[TaskRecord]

    def criterion_values(self) -> dict[str, Any]:
        """The run results a criterion expression may use (see :mod:`workflows.spec.criteria`)."""
        return {"status": self.status, "duration_s": self.duration_s, "stage_runs": dict(self.stage_runs),
                "failed": self.failed, "outputs": list(self.outputs), "metrics": dict(self.metrics)}
