"""What the testbed manager reports: testbed status, execution progress, the workflow monitor.

Pydantic models, so the node can return them as structured tool output unchanged.

Readiness: an agent is *ready* when it is alive and its last heartbeat says READY or
PROCESSING (up and serving; PROCESSING only means it is busy right now). A testbed is
``ready`` when every one of its agents is ready; ``idle`` when every agent says READY.

Example::

    status = await manager.testbed_status("ns1")
    if status.ready: ...
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from workflows.store.records import ExecutionStatus, LogRecord, StateEventRecord


class AgentState(BaseModel):
    """One agent of a testbed, as the supervisor and its heartbeats see it."""

    name: str
    agent_type: str
    status: Literal["STARTING", "READY", "PROCESSING", "EXITED"]
    alive: bool
    pid: int | None = None
    restarts: int = 0
    last_heartbeat: datetime | None = None
    detail: str | None = None


class TestbedStatus(BaseModel):
    """A namespace's testbed."""

    __test__ = False

    namespace: str
    status: Literal["starting", "ready", "stopping", "stopped", "failed"]
    ready: bool = Field(description="every agent alive and heart-beating READY or PROCESSING")
    idle: bool = Field(description="every agent heart-beating READY (nothing in progress)")
    already_running: bool = False
    mode: Literal["inprocess", "process"]
    config: str = Field(description="the testbed config the agents came from")
    config_kind: Literal["testbed", "workflow"] = Field(
        "testbed", description="what start_testbed's config named: a testbed config, or a workflow config "
                               "(then the default testbed runs the agents it needs)")
    workflow_config: str | None = Field(None, description="the workflow config named, when config_kind is 'workflow'")
    node: str
    started_by: str | None = None
    started_at: datetime | None = None
    workers: int = 0
    agents: list[AgentState] = Field(default_factory=list)
    message: str = ""


class ExecutionProgress(BaseModel):
    """A snapshot sent to ``wait_for_execution``'s ``on_progress``."""

    execution_id: str
    status: ExecutionStatus
    phase: str | None = None
    run_number: int | None = None
    stf_count: int = 0
    stf_expected: int | None = Field(None, description="the stf_count parameter (None when unlimited)")
    tf_samples: int = 0
    slices: dict[str, int] = Field(default_factory=dict)
    drained: bool = False
    elapsed_s: float = 0.0


class WorkflowMonitor(BaseModel):
    """Everything about one execution on one page: status, DAQ phase, counts, events, errors, latency."""

    execution_id: str
    namespace: str
    workflow_name: str
    status: ExecutionStatus
    phase: str | None = None
    run_number: int | None = None
    run_status: str | None = None
    realtime: bool = False
    stf_count: int = 0
    stf_expected: int | None = None
    stf_files: dict[str, int] = Field(default_factory=dict, description="STF files by status")
    tf_samples: int = 0
    slices: dict[str, int] = Field(default_factory=dict, description="slices by status")
    slice_results_received: int = Field(0, description="every slice result the fast processing agent received; "
                                        "more than the slices done + failed means a slice was processed twice")
    workers_active: int | None = None
    workers_target: int | None = None
    slice_latency_p50_ms: float | None = None
    slice_latency_p99_ms: float | None = None
    recent_events: list[StateEventRecord] = Field(default_factory=list)
    errors: list[LogRecord] = Field(default_factory=list)
    error: str | None = None
    start_time: datetime
    end_time: datetime | None = None
    duration_s: float
    parameters: dict[str, Any] = Field(default_factory=dict)
