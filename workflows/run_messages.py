"""Run-control messages the DAQ datataking workflow broadcasts (the bus wire format).

Every message carries where it belongs (namespace, execution_id, run_id), when it happened
(``timestamp``: wall clock, ISO 8601 UTC; ``simulation_tick``: simulated seconds) and the DAQ
state it puts the detector in. Read any of them back with :func:`parse_daq_message`.

Example::

    >>> msg = parse_daq_message({
    ...     "msg_type": "run_imminent", "namespace": "alice", "execution_id": "stf_datataking-alice-0001",
    ...     "run_id": 100010, "timestamp": "2026-11-02T10:00:00Z", "simulation_tick": 5.0,
    ...     "state": "beam", "substate": "not_ready"})
    >>> type(msg).__name__
    'RunImminent'
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

DaqState = Literal["no_beam", "beam", "run"]
DaqSubstate = Literal["not_ready", "ready", "physics", "standby"]
EndReason = Literal["completed", "stopped", "duration_limit", "failed"]


class RunMessage(BaseModel):
    """Fields common to every run-control message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    msg_type: str
    namespace: str
    execution_id: str
    run_id: int = Field(ge=1)
    timestamp: datetime = Field(description="wall clock when the message was emitted (UTC)")
    simulation_tick: float = Field(ge=0, description="simulated seconds since the execution started")
    state: DaqState
    substate: DaqSubstate


class RunImminent(RunMessage):
    """The run is about to start: beam/not_ready. Agents prepare (register the run, ramp workers)."""

    msg_type: Literal["run_imminent"] = "run_imminent"


class StartRun(RunMessage):
    """Data taking begins: run/physics."""

    msg_type: Literal["start_run"] = "start_run"


class StfGen(RunMessage):
    """One STF file is complete."""

    msg_type: Literal["stf_gen"] = "stf_gen"
    filename: str = Field(description="swf.{run}.{sequence:06d}.stf")
    sequence: int = Field(ge=1, description="1-based position of the STF in its run")
    size_bytes: int = Field(ge=0, description="synthetic size, deterministic from the filename")
    checksum: str = Field(description="synthetic 'adler32:<8 hex>', deterministic from the filename")


class PauseRun(RunMessage):
    """A physics period ended and standby begins: run/standby."""

    msg_type: Literal["pause_run"] = "pause_run"


class ResumeRun(RunMessage):
    """Standby ended and the next physics period begins: run/physics."""

    msg_type: Literal["resume_run"] = "resume_run"


class EndRun(RunMessage):
    """The run is closed: beam/not_ready. Sent on completion, on a stop and on a failure."""

    msg_type: Literal["end_run"] = "end_run"
    total_stf_files: int = Field(ge=0)
    reason: EndReason = Field("completed", description="why the run ended")


DaqMessage = Annotated[
    RunImminent | StartRun | StfGen | PauseRun | ResumeRun | EndRun,
    Field(discriminator="msg_type"),
]
"""Any run-control message, discriminated on ``msg_type``."""

DAQ_MESSAGE_TYPES: tuple[str, ...] = ("run_imminent", "start_run", "stf_gen", "pause_run", "resume_run", "end_run")

_ADAPTER: TypeAdapter[Any] = TypeAdapter(DaqMessage)


def parse_daq_message(data: dict[str, Any]) -> RunMessage:
    """Validate a message dict (e.g. from the bus) into its model; ``msg_type`` picks the model."""
    return _ADAPTER.validate_python(data)  # type: ignore[no-any-return]
