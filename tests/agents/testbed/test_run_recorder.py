"""The workflow runner's account of a run in the store, one batch at a time (RunRecorder)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from agents.testbed.kinds.run_recorder import RunningExecution, RunRecorder
from workflows.store.store import Store

T = TypeVar("T")


async def _write(call: Callable[[], Awaitable[T]], what: str) -> T:
    return await call()


def _state(kind: str, run: int, state: str, substate: str, **extra: object) -> dict[str, object]:
    return {"msg_type": kind, "run_id": run, "state": state, "substate": substate, **extra}


async def test_a_run_is_recorded_from_start_to_end(store: Store) -> None:
    await store.namespaces.ensure("alice")
    execution = await store.executions.create("stf_datataking", "alice", "alice", {}, "h", "s", {}, False)
    run = await store.runs.allocate_run_number()
    recorder = RunRecorder(store, "alice", sender="runner-1", destination="/topic/x.daq", write=_write)
    entry = RunningExecution(execution.execution_id, run_number=run)
    stf = {"msg_type": "stf_gen", "run_id": run}

    first = await recorder.record(entry, [_state("start_run", run, "run", "physics"), stf, stf])
    assert first == "phase"
    assert (await store.runs.get_run(run)).status == "running"
    assert await recorder.record(entry, [stf]) == "stf"
    assert await recorder.record(entry, []) is None

    last = await recorder.record(entry, [_state("end_run", run, "beam", "not_ready", total_stf_files=3)])
    assert last == "phase" and entry.run_ended
    ended = await store.runs.get_run(run)
    assert (ended.status, ended.total_stf_files) == ("ended", 3)
    stored = await store.executions.get(execution.execution_id)
    assert (stored.phase, stored.stf_count) == ("beam/not_ready", 3)
    events = (await store.events.list_state_events(execution_id=execution.execution_id, limit=10)).items
    assert sorted(e.event_type for e in events) == ["end_run", "start_run"]
    messages = (await store.events.list_messages(execution_id=execution.execution_id, limit=10)).items
    assert len(messages) == 5 and {m.sender for m in messages} == {"runner-1"}
