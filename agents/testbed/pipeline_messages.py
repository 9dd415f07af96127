"""The messages testbed agents exchange, as pydantic models discriminated on ``msg_type``.

The run messages of the DAQ simulator (run_imminent, start_run, stf_gen, pause_run,
resume_run, end_run) belong to the workflow and live in ``workflows.run_messages``; this module
defines what the agents add: data flow (stf_ready, processing_complete, tf_file_registered),
slices and their results, heartbeats, control and execution status.

Every message carries ``msg_type``, ``namespace`` and a wall-clock ``timestamp``; bodies on
the bus are ``model_dump(mode="json")``. :func:`parse_agent_message` turns a body back into its model.

The two messages sent once per slice, ``slice`` and ``slice_result``, are built as bodies
directly by :func:`slice_content_body` / :func:`slice_message_body` and
:func:`slice_result_body`: a model plus ``model_dump`` cost ~20 us per message, a fifth of the
CPU a resolved slice took in the in-process testbed. Each body equals what its model dumps
(``tests/agents/testbed/test_pipeline_messages.py`` holds them equal) and every receiver still
validates it with the model.

Example::

    msg = StfReady(namespace="ns1", execution_id="x-u-0001", run_id=100010,
                   filename="swf.100010.000001.stf", checksum="ad:1f", size_bytes=1024)
    body = msg.model_dump(mode="json")
    assert parse_agent_message(body) == msg
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

AgentStatus = Literal["STARTING", "READY", "PROCESSING", "EXITED"]
ExecutionEvent = Literal["started", "phase", "stf", "completed", "terminated", "failed", "drained"]


def _now() -> datetime:
    return datetime.now(UTC)


def json_time(value: datetime) -> str:
    """A datetime as ``model_dump(mode="json")`` writes it (UTC as ``...Z``)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class AgentMessage(BaseModel):
    """Base of the agents' messages: type tag, namespace, wall-clock time.

    Example: ``Heartbeat(namespace="ns1", agent="data-agent-ns1-1", agent_type="data",
    status="READY", pid=42, hostname="h")``.
    """

    model_config = ConfigDict(extra="ignore")

    msg_type: str
    namespace: str
    timestamp: datetime = Field(default_factory=_now)


# --- data flow -------------------------------------------------------------------------------


class StfReady(AgentMessage):
    """The data agent registered an STF file; processing may start."""

    msg_type: Literal["stf_ready"] = "stf_ready"
    execution_id: str
    run_id: int
    filename: str
    sequence: int | None = None
    checksum: str
    size_bytes: int


class ProcessingComplete(AgentMessage):
    """The processing agent finished an STF."""

    msg_type: Literal["processing_complete"] = "processing_complete"
    execution_id: str
    run_id: int
    filename: str
    checksum: str
    status: Literal["processed", "failed"] = "processed"
    error: str | None = None


class TfFileRegistered(AgentMessage):
    """The fastmon agent sampled an STF into a TF sample."""

    msg_type: Literal["tf_file_registered"] = "tf_file_registered"
    execution_id: str
    run_id: int
    tf_filename: str
    stf_filename: str
    tf_first: int
    tf_last: int
    tf_count: int


# --- slices ----------------------------------------------------------------------------------


class SliceContent(BaseModel):
    """What a worker needs to process one slice (the reference's ``content``)."""

    run_id: int
    execution_id: str
    req_id: str
    filename: str
    tf_filename: str
    slice_id: int
    start: int
    end: int
    tf_count: int
    state: Literal["queued"] = "queued"
    substate: str = "new"
    attempt: int = 0
    requested_at: datetime = Field(default_factory=_now)


class SliceMessage(AgentMessage):
    """A slice on the slices queue."""

    msg_type: Literal["slice"] = "slice"
    run_id: int
    content: SliceContent


class SliceResult(AgentMessage):
    """A worker's result for one slice."""

    msg_type: Literal["slice_result"] = "slice_result"
    run_id: int
    execution_id: str
    req_id: str
    tf_filename: str
    slice_id: int
    attempt: int = 0
    requested_at: datetime
    processing_start_at: datetime
    processed_at: datetime
    state: Literal["done", "failed"]
    hostname: str
    worker: str
    result: dict[str, Any] | None = None
    error: str | None = None


def slice_content_body(*, run_id: int, execution_id: str, req_id: str, filename: str, tf_filename: str,
                       slice_id: int, start: int, end: int, tf_count: int, requested_at: str,
                       attempt: int = 0) -> dict[str, Any]:
    """``SliceContent(...).model_dump(mode="json")`` without the model (the per-slice hot path);
    ``requested_at`` is already in its JSON form (:func:`json_time`: the slices of a sample share it)."""
    return {"run_id": run_id, "execution_id": execution_id, "req_id": req_id, "filename": filename,
            "tf_filename": tf_filename, "slice_id": slice_id, "start": start, "end": end, "tf_count": tf_count,
            "state": "queued", "substate": "new", "attempt": attempt, "requested_at": requested_at}


def slice_message_body(namespace: str, content: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """``SliceMessage(...).model_dump(mode="json")`` around a :func:`slice_content_body`;
    ``timestamp`` in its JSON form."""
    return {"msg_type": "slice", "namespace": namespace, "timestamp": timestamp,
            "run_id": content["run_id"], "content": content}


def slice_result_body(*, namespace: str, content: SliceContent, processing_start_at: datetime,
                      processed_at: datetime, hostname: str, worker: str, result: dict[str, Any] | None,
                      error: str | None, requested_at: str | None = None) -> dict[str, Any]:
    """``SliceResult(...).model_dump(mode="json")`` for ``content``'s slice, without the model;
    ``state`` is ``done`` without an error, ``failed`` with one. ``requested_at``: the content's
    time as it arrived (JSON form), so it is not formatted again."""
    processed = json_time(processed_at)
    return {"msg_type": "slice_result", "namespace": namespace, "timestamp": processed,
            "run_id": content.run_id, "execution_id": content.execution_id, "req_id": content.req_id,
            "tf_filename": content.tf_filename, "slice_id": content.slice_id, "attempt": content.attempt,
            "requested_at": requested_at or json_time(content.requested_at),
            "processing_start_at": json_time(processing_start_at), "processed_at": processed,
            "state": "done" if error is None else "failed", "hostname": hostname, "worker": worker,
            "result": result, "error": error}


class SliceStarted(AgentMessage):
    """A worker took a slice and will work on it for a while (real-time runs): the slice is
    ``processing`` until its result comes (on the same queue, after this message)."""

    msg_type: Literal["slice_started"] = "slice_started"
    run_id: int
    execution_id: str
    tf_filename: str
    slice_id: int
    attempt: int = 0
    processing_start_at: datetime
    worker: str


# --- agents and control ----------------------------------------------------------------------


class Heartbeat(AgentMessage):
    """An agent's heartbeat: sent every interval and at once on every status change."""

    msg_type: Literal["heartbeat"] = "heartbeat"
    agent: str
    agent_type: str
    status: AgentStatus
    pid: int
    hostname: str
    execution_id: str | None = None
    detail: str | None = None


class RunWorkflow(AgentMessage):
    """Ask the workflow runner to run a stored execution."""

    msg_type: Literal["run_workflow"] = "run_workflow"
    execution_id: str


class StopWorkflow(AgentMessage):
    """Ask the workflow runner to stop an execution (it broadcasts end_run and closes it)."""

    msg_type: Literal["stop_workflow"] = "stop_workflow"
    execution_id: str
    reason: str | None = None


class StatusRequest(AgentMessage):
    """Ask the workflow runner what it is running (it answers on the execution topic)."""

    msg_type: Literal["status_request"] = "status_request"


class ScaleWorkers(AgentMessage):
    """The fast processing agent asks the supervisor for a worker pool size."""

    msg_type: Literal["scale_workers"] = "scale_workers"
    count: int = Field(ge=0)
    reason: str = ""
    execution_id: str | None = None


class AgentControl(AgentMessage):
    """A free-form control message on the testbed_control topic (``send_message``)."""

    msg_type: Literal["agent_control"] = "agent_control"
    body: dict[str, Any] = Field(default_factory=dict)


class ExecutionStatusChanged(AgentMessage):
    """An execution changed: started, phase, stf, completed, terminated, failed, drained."""

    msg_type: Literal["execution_status"] = "execution_status"
    execution_id: str
    event: ExecutionEvent
    status: str
    phase: str | None = None
    run_number: int | None = None
    stf_count: int = 0
    error: str | None = None


AnyAgentMessage = Annotated[
    StfReady
    | ProcessingComplete
    | TfFileRegistered
    | SliceMessage
    | SliceResult
    | Heartbeat
    | RunWorkflow
    | StopWorkflow
    | StatusRequest
    | ScaleWorkers
    | AgentControl
    | ExecutionStatusChanged,
    Field(discriminator="msg_type"),
]

_ADAPTER: TypeAdapter[AnyAgentMessage] = TypeAdapter(AnyAgentMessage)


def parse_agent_message(body: dict[str, Any]) -> AgentMessage:
    """The model of an agent message body; raises ``pydantic.ValidationError`` naming the field."""
    return _ADAPTER.validate_python(body)
