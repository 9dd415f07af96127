"""Pydantic read models and batch inputs of the store: what tools, agents and the gateway see.

Every timestamp is an aware UTC datetime. Lists come back as :class:`Page`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ExecutionStatus = Literal["pending", "running", "completed", "failed", "terminated"]
TERMINAL_STATUSES: tuple[ExecutionStatus, ...] = ("completed", "failed", "terminated")
ACTIVE_STATUSES: tuple[ExecutionStatus, ...] = ("pending", "running")
RunStatus = Literal["running", "ended"]
StfStatus = Literal["registered", "ready", "processed", "failed"]
SliceStatus = Literal["queued", "processing", "done", "failed"]
SLICE_STATUSES: tuple[SliceStatus, ...] = ("queued", "processing", "done", "failed")
AgentStatus = Literal["STARTING", "READY", "PROCESSING", "EXITED"]
AgentMode = Literal["inprocess", "process"]
TestbedStatus = Literal["starting", "ready", "stopping", "stopped", "failed"]

MAX_LIMIT = 200
COUNT_CAP = 10_000

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first.

    ``total`` counts matches up to 10,000; past that ``total`` is 10,000 and
    ``total_is_lower_bound`` is true. Pass ``next_cursor`` back as ``cursor`` for the next page.

    Example: ``Page[LogRecord](items=[...], total=3, has_more=False)``.
    """

    items: list[T]
    total: int
    total_is_lower_bound: bool = False
    has_more: bool
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class JsonPage:
    """A page already in its JSON form, built from the rows without the models: ``data`` equals
    ``Page[record].model_dump(mode="json")`` and ``text`` its ``model_dump_json()``, byte for
    byte (``list_logs``' answer: validating 200 rows into models and dumping them twice cost more
    than reading them).

    Example: ``JsonPage(data={"items": [], "total": 0, ...}, text='{"items":[],"total":0,...}')``.
    """

    data: dict[str, Any]
    text: str


class Record(BaseModel):
    """Base of the read models: built from ORM rows, immutable.

    Example: ``ExecutionRecord.model_validate(row)`` where ``row`` is an ``ExecutionRow``.
    """

    model_config = ConfigDict(from_attributes=True, frozen=True)


class NamespaceRecord(Record):
    name: str
    description: str | None = None
    created_at: datetime
    execution_count: int | None = None
    agent_count: int | None = None


class DefinitionRecord(Record):
    id: int
    namespace: str | None = Field(None, description="the namespace that registered it; None for a built-in")
    name: str
    version: str
    source_hash: str
    source: str
    parameter_schema: dict[str, Any]
    description: str | None = None
    files: dict[str, str] | None = Field(None, description="a generated workflow's files, name -> text")
    registered_by: str | None = None
    created_at: datetime

    @field_validator("namespace", mode="before")
    @classmethod
    def _builtin(cls, value: object) -> object:
        return value or None


class ExecutionRecord(Record):
    execution_id: str
    workflow_name: str
    definition_version: str | None = None
    namespace: str
    executed_by: str
    config: dict[str, Any]
    config_hash: str
    code_version: str | None = None
    parameters: dict[str, Any]
    realtime: bool
    status: ExecutionStatus
    phase: str | None = None
    run_number: int | None = None
    stf_count: int = 0
    start_time: datetime
    end_time: datetime | None = None
    error: str | None = None
    reason: str | None = None
    node: str | None = None


class RunRecord(Record):
    run_number: int
    namespace: str
    execution_id: str | None = None
    state: str
    substate: str | None = None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    total_stf_files: int | None = None


class StfFileRecord(Record):
    id: int
    filename: str
    namespace: str
    execution_id: str | None = None
    run_number: int | None = None
    sequence: int | None = None
    size_bytes: int | None = None
    checksum: str | None = None
    status: StfStatus
    created_at: datetime
    updated_at: datetime


class TfSampleRecord(Record):
    id: int
    tf_filename: str
    stf_filename: str
    namespace: str
    execution_id: str | None = None
    run_number: int | None = None
    tf_first: int
    tf_last: int
    tf_count: int
    created_at: datetime


class SliceIn(BaseModel):
    """One slice to queue (``add_slices``)."""

    namespace: str
    execution_id: str | None = None
    run_number: int | None = None
    tf_filename: str
    slice_id: int = Field(ge=0)
    start: int
    end: int
    tf_count: int = Field(ge=0)
    requested_at: datetime | None = None


class SliceMark(BaseModel):
    """One slice status change of a batch (``mark_slices``), with the same meaning as ``mark_slice``.

    ``processing`` records the worker and ``processing_start_at`` (``at``); ``done``/``failed``
    record ``processed_at`` (``at``) and ``result``/``error``; back to ``queued`` counts a retry.
    ``processing_start_at`` also records when the worker started, whatever the status (a
    result carries it). ``None`` keeps the stored value.

    Example: ``SliceMark(tf_filename="tf.1", slice_id=0, status="done", worker="w1", at=now)``.
    """

    tf_filename: str
    slice_id: int = Field(ge=0)
    status: SliceStatus
    worker: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    at: datetime | None = None
    processing_start_at: datetime | None = None


class SliceRecord(Record):
    id: int
    namespace: str
    execution_id: str | None = None
    run_number: int | None = None
    tf_filename: str
    slice_id: int
    start: int
    end: int
    tf_count: int
    status: SliceStatus
    retries: int
    assigned_worker: str | None = None
    error: str | None = None
    requested_at: datetime
    processing_start_at: datetime | None = None
    processed_at: datetime | None = None
    result: dict[str, Any] | None = None


class WorkerRecord(Record):
    name: str
    namespace: str
    execution_id: str | None = None
    status: str
    hostname: str | None = None
    started_at: datetime
    stopped_at: datetime | None = None
    slices_done: int
    slices_failed: int


class RunStateRecord(Record):
    run_number: int
    namespace: str
    phase: str | None = None
    workers_active: int
    workers_target: int
    slices_queued: int
    slices_processing: int
    slices_done: int
    slices_failed: int
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    updated_at: datetime


class StateEventIn(BaseModel):
    """One state transition of a batch (``add_state_events``); ``timestamp`` defaults to now.

    Example: ``StateEventIn(namespace="alice", event_type="start_run", state="run", substate="physics")``.
    """

    namespace: str
    event_type: str
    state: str
    substate: str | None = None
    execution_id: str | None = None
    run_number: int | None = None
    timestamp: datetime | None = None
    simulation_tick: float | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class StateEventRecord(Record):
    id: int
    namespace: str
    execution_id: str | None = None
    run_number: int | None = None
    event_type: str
    state: str
    substate: str | None = None
    timestamp: datetime
    simulation_tick: float | None = None
    data: dict[str, Any]


class MessageIn(BaseModel):
    """One bus message to keep (``add_messages``); ``created_at`` defaults to now."""

    namespace: str
    execution_id: str | None = None
    run_number: int | None = None
    msg_type: str
    sender: str | None = None
    destination: str | None = None
    body: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None


class MessageRecord(Record):
    id: int
    namespace: str
    execution_id: str | None = None
    run_number: int | None = None
    msg_type: str
    sender: str | None = None
    destination: str | None = None
    body: dict[str, Any]
    created_at: datetime


class LogIn(BaseModel):
    """One log line to keep (``add_logs``); ``levelname`` defaults from ``level``."""

    namespace: str | None = None
    agent: str
    instance: str | None = None
    execution_id: str | None = None
    level: int = Field(ge=0, le=100)
    levelname: str = ""
    message: str
    created_at: datetime | None = None
    extra: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _default_levelname(self) -> LogIn:
        if not self.levelname:
            self.levelname = logging.getLevelName(self.level)
        return self


class LogRecord(Record):
    id: int
    namespace: str | None = None
    agent: str
    instance: str | None = None
    execution_id: str | None = None
    level: int
    levelname: str
    message: str
    created_at: datetime
    extra: dict[str, Any] | None = None


class LogLine(Record):
    """A log entry as a list shows it (``list_log_lines``): no namespace, instance or extra
    fields, so a page is read, validated and sent lighter; ``get_log`` returns the whole entry.

    Example: ``LogLine(id=7, created_at=now, agent="data-agent-alice-1", level=40, levelname="ERROR", message="disk full")``.
    """

    id: int
    created_at: datetime
    agent: str
    execution_id: str | None = None
    level: int = Field(description="numeric level: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL")
    levelname: str
    message: str


class AgentRecord(Record):
    name: str
    namespace: str
    agent_type: str
    status: AgentStatus
    pid: int | None = None
    hostname: str | None = None
    mode: AgentMode
    execution_id: str | None = None
    last_heartbeat: datetime
    started_at: datetime
    restarts: int
    detail: str | None = None


class TestbedRecord(Record):
    __test__ = False  # not a pytest class

    namespace: str
    config_name: str
    status: TestbedStatus
    mode: str
    node: str | None = None
    started_at: datetime
    stopped_at: datetime | None = None
    started_by: str | None = None
    agents: dict[str, Any]


class PruneReport(BaseModel):
    """How many rows ``Store.prune`` removed, per kind."""

    messages: int = 0
    logs: int = 0
    state_events: int = 0
    executions: int = 0
    runs: int = 0
    stf_files: int = 0
    tf_samples: int = 0
    slices: int = 0
    workers: int = 0
    run_states: int = 0

    @field_validator("*")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        return max(value, 0)


# -- statistics (workflows.store.statistics computes them) ---------------------------------------

MAX_WORKERS = 20
COMPLETION_BINS = 30


class Quantiles(BaseModel):
    """Nearest-rank percentiles of one duration over the slices that have both timestamps."""

    count: int
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None


class HistogramBin(BaseModel):
    """Slices whose latency is in ``[low_ms, high_ms)`` (``high_ms`` None: no upper edge)."""

    low_ms: float
    high_ms: float | None
    count: int


class WorkerTime(BaseModel):
    """What one slice worker processed (slices counted for the worker that last held them)."""

    worker: str
    slices: int
    done: int
    failed: int
    retries: int
    processing_s: float = Field(description="summed processing_start_at -> processed_at")
    mean_ms: float | None = None
    busy_span_s: float | None = Field(None, description="its first processing start to its last finish")


class TaskWorker(BaseModel):
    """What one task worker computed (each task counted for the worker of its last attempt)."""

    worker: str
    tasks: int
    failed: int = 0
    compute_s: float
    mean_ms: float | None = None


class TaskTotals(BaseModel):
    """A task workflow's run: wall time against the tasks' summed compute time, and per worker."""

    status: str | None = None
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    wall_s: float | None = None
    compute_s: float | None = None
    wall_to_compute: float | None = Field(None, description="wall_s / compute_s; below 1 means tasks ran in parallel")
    workers: list[TaskWorker] = Field(default_factory=list, description=f"the {MAX_WORKERS} busiest")
    workers_total: int = 0


class ExecutionStatistics(BaseModel):
    """The characterization of one execution (see the module docstring for each source)."""

    execution_id: str
    namespace: str
    status: str
    workflow_name: str
    duration_s: float | None = None
    phases: dict[str, float] = Field(default_factory=dict, description="seconds per DAQ state/substate")
    stf_count: int = 0
    stf_interval_s: float | None = Field(None, description="median gap between STF files")
    slices_per_s: float | None = None
    warnings: int = Field(0, description="WARNING-or-worse log lines")
    agent_restarts: int = 0
    slices: dict[str, int] = Field(default_factory=dict, description="count by status")
    retries: int = 0
    latency: Quantiles = Quantiles(count=0)
    latency_histogram: list[HistogramBin] = Field(default_factory=list,
                                                  description="first to last non-empty bin")
    queue_wait: Quantiles = Quantiles(count=0)
    processing: Quantiles = Quantiles(count=0)
    workers: list[WorkerTime] = Field(default_factory=list, description=f"the {MAX_WORKERS} busiest")
    workers_total: int = 0
    completion_bin_s: float | None = Field(None, description="width of each completions bin")
    completions: list[int] = Field(default_factory=list,
                                   description="slices finished per bin, from the first finish to the last")
    tasks: TaskTotals | None = Field(None, description="task workflows only")
