"""The DAQ state machine: exact message sequences in fast and real-time mode, stops, limits, failures."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from workflows.config import expand_config
from workflows.executor import ExecutionOutcome, WorkflowExecutor
from workflows.run_messages import EndRun, StfGen, parse_daq_message
from workflows.params import DaqParameters, FastProcessingParameters
from workflows.stf_datataking import stf_checksum, stf_datataking, stf_filename, stf_size_bytes

RUN = 100010
EXEC = "stf_datataking-alice-0001"
STATES = {
    "run_imminent": ("beam", "not_ready"),
    "start_run": ("run", "physics"),
    "stf_gen": ("run", "physics"),
    "pause_run": ("run", "standby"),
    "resume_run": ("run", "physics"),
    "end_run": ("beam", "not_ready"),
}

Expected = list[tuple[str, float, dict[str, Any]]]


def expected_run(p: DaqParameters, run_id: int = RUN) -> tuple[Expected, float]:
    """The messages the state machine must emit, and when it must finish, from the parameters alone.

    Stops after 10,000 messages for endless settings (callers cut the list at their limit).
    """
    out: Expected = []
    t = p.no_beam_not_ready_delay
    out.append(("run_imminent", t, {}))
    t += p.broadcast_delay + p.beam_not_ready_delay + p.beam_ready_delay
    seq, period, per_period = 0, 0, math.floor(p.physics_period_duration / p.stf_interval + 1e-9)
    while len(out) < 10_000:
        out.append(("start_run" if period == 0 else "resume_run", t, {}))
        t += p.broadcast_delay
        start = t
        for k in range(1, per_period + 1):
            t = start + k * p.stf_interval + p.stf_generation_time
            seq += 1
            out.append(("stf_gen", t, {"sequence": seq, "filename": f"swf.{run_id}.{seq:06d}.stf"}))
            if seq == p.stf_count:
                break
        if seq == p.stf_count and p.stf_count:
            break
        t = max(t, start + p.physics_period_duration)
        period += 1
        if not p.stf_count and p.physics_period_count and period >= p.physics_period_count:
            break
        out.append(("pause_run", t, {}))
        t += p.broadcast_delay + p.standby_duration
    out.append(("end_run", t, {"total_stf_files": seq, "reason": "completed"}))
    return out, t + p.broadcast_delay + p.beam_not_ready_end_delay


def assert_matches(seen: list[dict[str, Any]], expected: Expected) -> None:
    assert [m["msg_type"] for m in seen] == [e[0] for e in expected]
    for message, (msg_type, tick, extra) in zip(seen, expected, strict=True):
        assert message["simulation_tick"] == pytest.approx(tick, abs=1e-6), message
        assert (message["state"], message["substate"]) == STATES[msg_type]
        assert (message["namespace"], message["execution_id"], message["run_id"]) == ("alice", EXEC, RUN)
        for key, value in extra.items():
            assert message[key] == value, (key, message)
        parse_daq_message(message)  # every broadcast is a valid wire message


def executor(params: DaqParameters, sink: list[dict[str, Any]] | Any, **kw: Any) -> WorkflowExecutor:
    emit = sink.append if isinstance(sink, list) else sink
    return WorkflowExecutor(stf_datataking, emit=emit, execution_id=EXEC, namespace="alice", parameters=params, run_id=RUN, **kw)


PARAMETER_SETS = {
    "stf_processing_default": expand_config("stf_processing_default", testbed=None).parameters,
    "fast_processing_default": expand_config("fast_processing_default", testbed=None).parameters,
    "count_mid_period": DaqParameters(stf_count=7, physics_period_count=3),
    "count_beyond_periods": DaqParameters(stf_count=12, physics_period_count=1, physics_period_duration=5, stf_interval=1.5),
    "three_periods": DaqParameters(physics_period_count=3, physics_period_duration=4, stf_interval=1.0, stf_generation_time=0),
    "endless_with_count": DaqParameters(physics_period_count=0, stf_count=7, physics_period_duration=6, stf_interval=2),
    "zero_delays": DaqParameters(
        no_beam_not_ready_delay=0, broadcast_delay=0, beam_not_ready_delay=0, beam_ready_delay=0,
        standby_duration=0, beam_not_ready_end_delay=0, stf_generation_time=0, physics_period_count=2,
    ),
}


@pytest.mark.parametrize("name", list(PARAMETER_SETS))
async def test_fast_mode_emits_exactly_the_expected_sequence(name: str) -> None:
    params = PARAMETER_SETS[name]
    seen: list[dict[str, Any]] = []
    outcome = await executor(params, seen).run()
    expected, finish = expected_run(params)
    assert_matches(seen, expected)
    assert outcome.status == "completed" and outcome.cause == "finished"
    assert outcome.simulated_seconds == pytest.approx(finish)
    assert outcome.messages == len(seen)
    if params.stf_count:
        assert seen[-1]["total_stf_files"] == params.stf_count


async def test_default_run_by_hand() -> None:
    """One literal, worked out on paper, so the expectation function cannot drift with the code."""
    seen: list[dict[str, Any]] = []
    await executor(DaqParameters(stf_count=3), seen).run()
    got = [(m["msg_type"], m["simulation_tick"]) for m in seen]
    assert got == [("run_imminent", 5.0), ("start_run", 13.0), ("stf_gen", 16.1), ("stf_gen", 18.1), ("stf_gen", 20.1), ("end_run", 20.1)]


async def test_stf_gen_fields() -> None:
    seen: list[dict[str, Any]] = []
    fixed = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    await executor(DaqParameters(stf_count=2), seen, clock=lambda: fixed).run()
    stfs = [parse_daq_message(m) for m in seen if m["msg_type"] == "stf_gen"]
    assert all(isinstance(s, StfGen) for s in stfs)
    assert [s.filename for s in stfs] == ["swf.100010.000001.stf", "swf.100010.000002.stf"]  # type: ignore[attr-defined]
    for s in stfs:
        assert s.checksum == stf_checksum(s.filename) and s.checksum.startswith("adler32:")  # type: ignore[attr-defined]
        assert s.size_bytes == stf_size_bytes(s.filename) > 0  # type: ignore[attr-defined]
    assert stfs[0].checksum != stfs[1].checksum  # type: ignore[attr-defined]
    assert all(m["timestamp"] == "2026-11-02T10:00:00Z" for m in seen)
    assert stf_filename(7, 123) == "swf.7.000123.stf"


async def test_timestamps_are_wall_clock_utc() -> None:
    seen: list[dict[str, Any]] = []
    before = datetime.now(UTC)
    await executor(DaqParameters(stf_count=1), seen).run()
    stamps = [datetime.fromisoformat(m["timestamp"]) for m in seen]
    assert all(before <= s <= datetime.now(UTC) for s in stamps)


async def test_realtime_mode_emits_the_same_sequence_paced_by_the_clock() -> None:
    params = PARAMETER_SETS["stf_processing_default"]
    factor = 0.001  # wall seconds per simulated second: 44 simulated seconds in ~44 ms
    seen: list[dict[str, Any]] = []
    walls: list[float] = []
    start = time.monotonic()

    def sink(message: dict[str, Any]) -> None:
        walls.append(time.monotonic() - start)
        seen.append(message)

    outcome = await executor(params, sink, mode="realtime", realtime_factor=factor).run()
    expected, finish = expected_run(params)
    assert_matches(seen, expected)
    assert outcome.status == "completed"
    assert finish * factor <= outcome.wall_seconds < 1.0
    for wall, message in zip(walls, seen, strict=True):
        assert wall >= message["simulation_tick"] * factor - 1e-3  # never early


async def test_stop_from_another_coroutine_closes_the_run() -> None:
    """An endless run; a consumer task stops it after 5 STFs. It still broadcasts end_run."""
    params = DaqParameters(physics_period_count=0)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    seen: list[dict[str, Any]] = []
    ex = executor(params, queue.put_nowait, yield_every=10)

    async def consumer() -> None:
        stfs = 0
        while True:
            message = await queue.get()
            seen.append(message)
            stfs += message["msg_type"] == "stf_gen"
            if stfs == 5:
                ex.stop()
            if message["msg_type"] == "end_run":
                return

    consuming = asyncio.create_task(consumer())
    outcome = await ex.run()
    await asyncio.wait_for(consuming, 5)
    assert outcome.status == "terminated" and outcome.cause == "stopped"
    end = EndRun.model_validate(seen[-1])
    assert end.reason == "stopped"
    stf_count = sum(m["msg_type"] == "stf_gen" for m in seen)
    assert stf_count >= 5 and end.total_stf_files == stf_count
    expected, _ = expected_run(params)
    assert_matches(seen[:-1], expected[: len(seen) - 1])  # what came before the stop was normal
    assert [m["msg_type"] for m in seen].count("end_run") == 1
    assert queue.empty()


async def test_realtime_stop_is_prompt() -> None:
    """Stop during a 1000 s standby at factor 0.01 (10 s of wall time): it must not wait for it."""
    params = DaqParameters(standby_duration=1000, no_beam_not_ready_delay=0, beam_not_ready_delay=0, beam_ready_delay=0)
    paused = asyncio.Event()
    seen: list[dict[str, Any]] = []

    def sink(message: dict[str, Any]) -> None:
        seen.append(message)
        if message["msg_type"] == "pause_run":
            paused.set()

    ex = executor(params, sink, mode="realtime", realtime_factor=0.01)
    running = asyncio.create_task(ex.run())
    await asyncio.wait_for(paused.wait(), 5)
    asked = time.monotonic()
    ex.stop()
    outcome = await running
    assert time.monotonic() - asked < 0.5  # the next event was 10 s of wall time away
    assert outcome.status == "terminated"
    assert seen[-1]["msg_type"] == "end_run" and seen[-1]["reason"] == "stopped"
    assert seen[-1]["simulation_tick"] == seen[-2]["simulation_tick"]  # no simulated time passed
    assert outcome.simulated_seconds < 1000


async def test_duration_limit_ends_the_run_at_that_time() -> None:
    params = DaqParameters(physics_period_count=0)  # endless: only the limit ends it
    seen: list[dict[str, Any]] = []
    outcome = await executor(params, seen, duration=40.0).run()
    assert outcome.status == "completed" and outcome.cause == "duration_limit"
    assert outcome.simulated_seconds == 40.0
    expected, _ = expected_run(params)
    before = [e for e in expected if e[1] < 40.0]
    assert_matches(seen[:-1], before)
    end = EndRun.model_validate(seen[-1])
    assert (end.reason, end.simulation_tick) == ("duration_limit", 40.0)
    assert end.total_stf_files == sum(e[0] == "stf_gen" for e in before)


async def test_duration_longer_than_the_run_changes_nothing() -> None:
    params = DaqParameters(stf_count=3)
    seen: list[dict[str, Any]] = []
    outcome = await executor(params, seen, duration=1000.0).run()
    expected, finish = expected_run(params)
    assert_matches(seen, expected)
    assert (outcome.cause, outcome.simulated_seconds) == ("finished", pytest.approx(finish))


async def test_realtime_duration_limit() -> None:
    seen: list[dict[str, Any]] = []
    outcome = await executor(DaqParameters(physics_period_count=0), seen, mode="realtime", realtime_factor=0.001, duration=30.0).run()
    assert outcome.cause == "duration_limit" and outcome.simulated_seconds == 30.0
    assert outcome.wall_seconds >= 0.03
    assert seen[-1]["reason"] == "duration_limit"


async def test_a_failing_sink_fails_the_execution_and_the_run_is_still_closed() -> None:
    seen: list[dict[str, Any]] = []
    failures = 0

    def sink(message: dict[str, Any]) -> None:
        nonlocal failures
        if message.get("sequence") == 2 and failures == 0:
            failures += 1
            raise RuntimeError("bus is down")
        seen.append(message)

    outcome = await executor(DaqParameters(), sink).run()
    assert outcome.status == "failed" and outcome.cause == "error"
    assert outcome.error == "bus is down" and outcome.error_type == "RuntimeError"
    assert [m["msg_type"] for m in seen] == ["run_imminent", "start_run", "stf_gen", "end_run"]
    assert (seen[-1]["reason"], seen[-1]["total_stf_files"]) == ("failed", 1)


async def test_a_sink_that_keeps_failing_reports_the_first_error() -> None:
    def sink(message: dict[str, Any]) -> None:
        if message["msg_type"] != "run_imminent":
            raise RuntimeError(f"cannot send {message['msg_type']}")

    outcome = await executor(DaqParameters(), sink).run()
    assert (outcome.status, outcome.error) == ("failed", "cannot send start_run")


async def test_cancelling_the_task_still_closes_the_run() -> None:
    started = asyncio.Event()
    seen: list[dict[str, Any]] = []

    def sink(message: dict[str, Any]) -> None:
        seen.append(message)
        if message["msg_type"] == "start_run":
            started.set()

    params = DaqParameters(no_beam_not_ready_delay=0, beam_not_ready_delay=0, beam_ready_delay=0)
    running = asyncio.create_task(executor(params, sink, mode="realtime", realtime_factor=0.01).run())
    await asyncio.wait_for(started.wait(), 5)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert (seen[-1]["msg_type"], seen[-1]["reason"]) == ("end_run", "stopped")


async def test_stop_before_the_run_starts_terminates_without_messages() -> None:
    seen: list[dict[str, Any]] = []
    ex = executor(DaqParameters(), seen)
    ex.stop()
    outcome: ExecutionOutcome = await ex.run()
    assert (outcome.status, outcome.messages, outcome.simulated_seconds, seen) == ("terminated", 0, 0.0, [])


async def test_stop_before_run_imminent_sends_no_end_run() -> None:
    """No run was opened yet, so there is nothing to close."""
    seen: list[dict[str, Any]] = []
    ex = executor(DaqParameters(), seen, duration=3.0)
    outcome = await ex.run()
    assert (outcome.cause, seen) == ("duration_limit", [])


async def test_missing_run_id_or_wrong_parameters_fail_clearly() -> None:
    outcome = await WorkflowExecutor(stf_datataking, emit=lambda m: None, execution_id=EXEC, namespace="alice", parameters=DaqParameters()).run()
    assert outcome.status == "failed" and "needs a run_id" in (outcome.error or "")
    outcome = await WorkflowExecutor(stf_datataking, emit=lambda m: None, execution_id=EXEC, namespace="alice", run_id=1).run()
    assert outcome.status == "failed" and "needs DaqParameters" in (outcome.error or "")


async def test_fast_processing_parameters_drive_the_same_workflow() -> None:
    params = FastProcessingParameters(stf_count=4)
    seen: list[dict[str, Any]] = []
    await executor(params, seen).run()
    expected, _ = expected_run(params)
    assert_matches(seen, expected)
