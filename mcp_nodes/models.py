"""Structured outputs of the node's own tools (store records and testbed statuses are reused as is)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.testbed.framework.status import TestbedStatus
from workflows.store.records import AgentStatus, ExecutionRecord, ExecutionStatus, SliceStatus

__all__ = [
    "AgentLine", "DefinitionInfo", "ExecutionView", "MessageLine", "MessageSent", "NodeHealth", "PruneResult",
    "SliceLine", "SystemState", "WaitResult",
]


class ExecutionView(BaseModel):
    """An execution as the tools return it: status first; the expanded config, the full
    parameters and the code/config hashes only with ``include_config`` (they are 2 KB a time).

    Example: ``ExecutionView.of(record)``; ``ExecutionView.of(record, include_config=True)``.
    """

    execution_id: str
    status: ExecutionStatus
    phase: str | None = None
    workflow_name: str
    namespace: str
    run_number: int | None = None
    stf_count: int = 0
    start_time: datetime
    end_time: datetime | None = None
    error: str | None = None
    hint: str | None = Field(None, description="what to do next")
    config_name: str | None = Field(None, description="the workflow config it ran, e.g. 'fast_processing_default'")
    overrides: dict[str, Any] = Field(default_factory=dict, description="the parameters the caller set")
    realtime: bool = False
    executed_by: str
    reason: str | None = None
    node: str | None = None
    config: dict[str, Any] | None = Field(None, description="get_workflow_execution(include_config=true)")
    parameters: dict[str, Any] | None = Field(None, description="every parameter, with include_config")
    config_hash: str | None = None
    code_version: str | None = None

    @classmethod
    def of(cls, record: ExecutionRecord, *, include_config: bool = False) -> ExecutionView:
        config = record.config if isinstance(record.config, dict) else {}
        fields = record.model_dump(exclude={"config", "parameters", "config_hash", "code_version"})
        fields |= {"overrides": config.get("overrides") or {}, "config_name": config.get("name")}
        if include_config:
            # the stored config without the node's filesystem path of a generated workflow
            shown = {k: v for k, v in config.items() if k != "directory"} if config else record.config
            fields |= {"config": shown, "parameters": record.parameters,
                       "config_hash": record.config_hash, "code_version": record.code_version}
        return cls.model_validate(fields)


class AgentLine(BaseModel):
    """An agent as list_agents shows it; get_agent adds host, mode, start time and detail."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    agent_type: str
    status: AgentStatus
    last_heartbeat: datetime
    restarts: int
    pid: int | None = None
    execution_id: str | None = None


class MessageLine(BaseModel):
    """A bus message as list_messages shows it (no namespace, run number or destination)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    msg_type: str
    sender: str | None = None
    execution_id: str | None = None
    body: dict[str, Any]


class SliceLine(BaseModel):
    """A TF slice as list_tf_slices shows it; get_tf_slice adds times, bounds and the result."""

    model_config = ConfigDict(from_attributes=True)

    tf_filename: str
    slice_id: int
    status: SliceStatus
    retries: int
    assigned_worker: str | None = None
    error: str | None = None
    processed_at: datetime | None = None


class WaitResult(BaseModel):
    """What wait_for_execution returns."""

    finished: bool = Field(description="true when the execution ended AND its processing drained")
    drained: bool = Field(False, description="false while slices (or STFs) are still queued or processing")
    outstanding: dict[str, int] = Field(default_factory=dict, description="what is still in flight, e.g. "
                                        "{'slices_queued': 45, 'slices_processing': 3} (empty once drained)")
    waited_s: float
    execution: ExecutionView
    hint: str = Field(description="what to do next")


class DefinitionInfo(BaseModel):
    """A workflow the node can run, with the JSON Schema of its parameters."""

    name: str
    version: str
    description: str
    namespace: str | None = Field(None, description="the namespace it belongs to; None for a built-in every namespace runs")
    source_hash: str | None = None
    parameter_schema: dict[str, Any] = Field(default_factory=dict)
    configs: list[str] = Field(default_factory=list, description="config names usable with start_workflow")
    section_schemas: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameter JSON Schema per config section (fast_processing, stf_processing)")


class MessageSent(BaseModel):
    """Acknowledgement of send_message."""

    namespace: str
    msg_type: str
    destination: str
    sent_at: datetime


class NodeHealth(BaseModel):
    """The node itself."""

    name: str
    version: str
    mode: Literal["inprocess", "process"]
    bus: Literal["embedded", "stomp"]
    uptime_s: float
    database: str = Field(description="database kind, e.g. 'sqlite' or 'postgresql'")


class SystemState(BaseModel):
    """One-call overview: node health, testbeds, running executions, recent errors."""

    node: NodeHealth
    testbeds: list[TestbedStatus]
    running_executions: list[ExecutionView]
    recent_errors: list[dict[str, Any]] = Field(description="newest ERROR+ log entries (id, time, agent, message)")
    hint: str


class PruneResult(BaseModel):
    """Rows deleted by prune."""

    older_than: datetime
    deleted: dict[str, int] = Field(description="rows deleted per kind (messages, logs, executions, ...)")
