"""How the workflow runner keeps the store's account of a run, one batch of messages at a time.

The executor's ``emit`` only appends to the execution's outbox; the runner's pump publishes the
outbox on the ``daq`` topic, in order, and hands each batch to :class:`RunRecorder`, which writes
it as the store's account of the run: the run row (``start_run`` -> running, ``end_run`` ->
ended with ``total_stf_files``; pause/resume as its latest state), the state events, the
messages, and the execution's phase and STF count. Every write goes through the runner's
outage-riding ``write`` (a database outage is waited out, up to its bound).

Example::

    recorder = RunRecorder(store, "alice", sender="workflow_runner-agent-alice-1",
                           destination=to.daq, write=agent._write)
    change = await recorder.record(entry, batch)   # "phase", "stf" or None
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from workflows.store.records import MessageIn, StateEventIn

if TYPE_CHECKING:
    from agents.tasks.scheduler import TaskScheduler
    from workflows.executor import WorkflowExecutor
    from workflows.store.store import Store

STATE_MESSAGES = frozenset({"run_imminent", "start_run", "pause_run", "resume_run", "end_run"})
"""Run messages that move the DAQ state machine (each one a state event)."""
T = TypeVar("T")

__all__ = ["STATE_MESSAGES", "RunRecorder", "RunningExecution", "StoreWrite"]


class StoreWrite(Protocol):
    """A store write that rides out a database outage: ``await write(call, "what it is")``."""

    def __call__(self, call: Callable[[], Awaitable[T]], what: str) -> Awaitable[T]: ...


@dataclass
class RunningExecution:
    """One execution a workflow runner is running: what it emitted and not yet recorded, and where it is."""

    execution_id: str
    executor: WorkflowExecutor | None = None
    scheduler: TaskScheduler | None = None
    stop_reason: str | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    run_number: int | None = None
    phase: str = "no_beam/not_ready"
    stf_count: int = 0
    run_ended: bool = False
    finished: bool = False


class RunRecorder:
    """Writes a runner's batches of run messages to the store (see the module docstring)."""

    def __init__(self, store: Store, namespace: str, *, sender: str, destination: str, write: StoreWrite) -> None:
        self.store = store
        self.namespace = namespace
        self.sender = sender
        self.destination = destination
        self.write = write

    async def record(self, entry: RunningExecution, batch: list[dict[str, Any]]) -> Literal["phase", "stf"] | None:
        """One batch into the store: the run row (its latest state only), state events, messages,
        the execution's phase and STF count. Returns what changed for the execution topic:
        ``"phase"``, ``"stf"`` (its STF count only), or None."""
        store, write = self.store, self.write
        phase_before, stfs_before = entry.phase, entry.stf_count
        last_state: dict[str, Any] | None = None
        events: list[dict[str, Any]] = []
        for body in batch:
            kind = body["msg_type"]
            if kind == "stf_gen":
                entry.stf_count += 1
            elif kind in STATE_MESSAGES:
                entry.phase = f"{body['state']}/{body['substate']}"
                events.append(body)
                if kind == "start_run" or kind == "end_run":
                    await write(lambda b=body: store.runs.start_run(
                        b["run_id"], self.namespace, execution_id=entry.execution_id, state=b["state"],
                        substate=b["substate"]), f"record {kind} of {entry.execution_id}")
                if kind == "end_run":
                    await write(lambda b=body: store.runs.update_run_state(b["run_id"], b["state"], b["substate"]),
                                f"record end_run of {entry.execution_id}")
                    await write(lambda b=body: store.runs.end_run(b["run_id"], b["total_stf_files"]),
                                f"record end_run of {entry.execution_id}")
                    entry.run_ended = True
                    last_state = None
                elif kind in ("pause_run", "resume_run"):
                    last_state = body
        what = f"record the messages of {entry.execution_id}"
        if last_state is not None:
            state = last_state
            await write(lambda: store.runs.update_run_state(state["run_id"], state["state"], state["substate"]), what)
        state_events = [
            StateEventIn(namespace=self.namespace, event_type=body["msg_type"], state=body["state"],
                         substate=body["substate"], execution_id=entry.execution_id, run_number=body["run_id"],
                         simulation_tick=body.get("simulation_tick"),
                         data={k: v for k, v in body.items() if k in ("total_stf_files", "reason")})
            for body in events
        ]
        await write(lambda: store.events.add_state_events(state_events), what)
        messages = [
            MessageIn(namespace=self.namespace, execution_id=entry.execution_id, run_number=body.get("run_id"),
                      msg_type=body["msg_type"], sender=self.sender, destination=self.destination, body=body)
            for body in batch
        ]
        await write(lambda: store.events.add_messages(messages), what)
        if entry.phase == phase_before and entry.stf_count == stfs_before:
            return None
        await write(lambda: store.executions.set_status(entry.execution_id, "running", phase=entry.phase,
                                                        stf_count=entry.stf_count), what)
        return "phase" if entry.phase != phase_before else "stf"
