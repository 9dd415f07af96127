"""What crosses the bus: task messages to the workers, started/result messages back.

A task goes to the namespace's ``tasks`` queue (persistent, client ack, prefetch 1). The worker
answers on the task's ``reply_to`` queue, first ``task_started`` (so the scheduler starts the
task's timeout clock only once a worker holds it), then ``task_result``, then acks the task.
The scheduler keys everything by ``(task_id, attempt)``: a duplicate or late message of an
attempt it no longer waits for is ignored.

Example::

    >>> task = TaskMessage(task_id="train.r0.i1", execution_id="fl-bob-0001", stage="train", index=1,
    ...                    round=0, attempt=1, reply_to="/queue/controlroom.bob.task_results.fl-bob-0001",
    ...                    payload=SleepPayload(seconds=0.1))
    >>> TaskMessage.model_validate(task.model_dump(mode="json")).payload.kind
    'sleep'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.tasks.sandbox import SandboxLimits

Mode = Literal["fast", "realtime"]
TaskStatus = Literal["succeeded", "failed", "timeout"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallablePayload(_Wire):
    """Call ``module:function(**args)`` in a sandboxed child process (``python -m workflows.tasks.invoke``).

    The return value, if a dict, may carry ``outputs`` (list of paths) and ``metrics`` (name -> number).
    """

    kind: Literal["callable"] = "callable"
    ref: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="package.module:function")
    args: dict[str, Any] = Field(default_factory=dict)
    cwd: str | None = Field(None, description="where the module is imported from (the workflow's directory)")
    run_dir: str | None = Field(None, description="the run directory: the sandbox's only writable path")
    limits: SandboxLimits = SandboxLimits()


class CommandPayload(_Wire):
    """Run ``argv`` (no shell) in ``cwd``; the last stdout line, if a JSON object, is the task's result."""

    kind: Literal["command"] = "command"
    argv: list[str] = Field(min_length=1)
    cwd: str | None = None
    run_dir: str | None = Field(None, description="the run directory: the sandbox's only writable path")
    limits: SandboxLimits = SandboxLimits()


class SleepPayload(_Wire):
    """Synthetic work of a fixed duration: slept in real time, only recorded in fast mode."""

    kind: Literal["sleep"] = "sleep"
    seconds: float = Field(ge=0)


Payload = Annotated[CallablePayload | CommandPayload | SleepPayload, Field(discriminator="kind")]


class TaskMessage(_Wire):
    """One attempt of one task, as the scheduler sends it."""

    msg_type: Literal["task"] = "task"
    task_id: str
    execution_id: str
    stage: str
    index: int = Field(ge=0)
    round: int = Field(ge=0)
    attempt: int = Field(ge=1)
    payload: Payload
    timeout_s: float | None = Field(default=None, gt=0)
    mode: Mode = "realtime"
    reply_to: str


class TaskStarted(_Wire):
    """A worker took the task and starts it now."""

    msg_type: Literal["task_started"] = "task_started"
    task_id: str
    attempt: int
    worker: str


class TaskResult(_Wire):
    """How one attempt ended. ``duration_s`` is the work's time (the recorded one for fast sleeps)."""

    msg_type: Literal["task_result"] = "task_result"
    task_id: str
    attempt: int
    worker: str
    status: TaskStatus
    duration_s: float = 0.0
    error: str | None = None
    outputs: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
