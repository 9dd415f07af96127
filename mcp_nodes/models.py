"""Structured outputs of the node's own tools (store records and testbed statuses are reused as is)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from agents.testbed.status import TestbedStatus
from workflows.store.records import ExecutionRecord

__all__ = ["DefinitionInfo", "MessageSent", "NodeHealth", "PruneResult", "SystemState", "WaitResult"]


class WaitResult(BaseModel):
    """What wait_for_execution returns."""

    finished: bool = Field(description="true when the execution ended AND its processing drained")
    drained: bool = Field(False, description="false while slices (or STFs) are still queued or processing")
    outstanding: dict[str, int] = Field(default_factory=dict, description="what is still in flight, e.g. "
                                        "{'slices_queued': 45, 'slices_processing': 3} (empty once drained)")
    waited_s: float
    execution: ExecutionRecord
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
    running_executions: list[ExecutionRecord]
    recent_errors: list[dict[str, Any]] = Field(description="newest ERROR+ log entries (id, time, agent, message)")
    hint: str


class PruneResult(BaseModel):
    """Rows deleted by prune."""

    older_than: datetime
    deleted: dict[str, int] = Field(description="rows deleted per kind (messages, logs, executions, ...)")
