"""The executor on small workflows of its own: completion, failure, stop, limits, misuse."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest
from pydantic import BaseModel

from workflows.errors import ExecutionError
from workflows.executor import WorkflowContext, WorkflowExecutor


def make(workflow: Any, sink: list[Any] | None = None, **kw: Any) -> WorkflowExecutor:
    seen = sink if sink is not None else []
    return WorkflowExecutor(workflow, emit=seen.append, execution_id="t-u-0001", namespace="ns", **kw)


class Ping(BaseModel):
    msg_type: str = "ping"
    at: float


async def test_models_are_emitted_as_json_dicts_and_counted() -> None:
    def workflow(ctx: WorkflowContext) -> Generator[Any, Any, None]:
        for _ in range(3):
            yield ctx.env.timeout(1.5)
            ctx.emit(Ping(at=ctx.now))

    seen: list[Any] = []
    outcome = await make(workflow, seen).run()
    assert seen == [{"msg_type": "ping", "at": 1.5}, {"msg_type": "ping", "at": 3.0}, {"msg_type": "ping", "at": 4.5}]
    assert (outcome.status, outcome.cause, outcome.messages, outcome.simulated_seconds) == ("completed", "finished", 3, 4.5)


async def test_an_exception_in_the_workflow_is_a_failed_outcome() -> None:
    def workflow(ctx: WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.env.timeout(2)
        raise ValueError("detector on fire")

    outcome = await make(workflow).run()
    assert (outcome.status, outcome.error, outcome.error_type, outcome.simulated_seconds) == ("failed", "detector on fire", "ValueError", 2)


async def test_a_zero_delay_endless_workflow_lets_other_tasks_run_and_stops() -> None:
    """Fast mode must hand the loop back even when simulated time never advances."""
    reasons: list[Any] = []

    def workflow(ctx: WorkflowContext) -> Generator[Any, Any, None]:
        try:
            while True:
                yield ctx.env.timeout(0)
        finally:
            reasons.append(ctx.stop_reason)

    ex = make(workflow, yield_every=50)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while ticks < 3:
            ticks += 1
            await asyncio.sleep(0)
        ex.stop()
        ex.stop()  # idempotent

    other = asyncio.create_task(ticker())
    outcome = await ex.run()
    await other
    assert (outcome.status, outcome.cause) == ("terminated", "stopped")
    assert outcome.steps >= 100 and ticks == 3
    assert reasons == ["stopped"]


async def test_duration_limit_closes_the_generator_with_its_reason() -> None:
    reasons: list[Any] = []

    def workflow(ctx: WorkflowContext) -> Generator[Any, Any, None]:
        try:
            while True:
                yield ctx.env.timeout(0.7)
        finally:
            reasons.append((ctx.stop_reason, ctx.now))

    outcome = await make(workflow, duration=10).run()
    assert (outcome.status, outcome.cause, outcome.simulated_seconds) == ("completed", "duration_limit", 10)
    assert reasons == [("duration_limit", 10)]


async def test_closing_code_that_misbehaves_fails_instead_of_hanging() -> None:
    def workflow(ctx: WorkflowContext) -> Generator[Any, Any, None]:
        try:
            yield ctx.env.timeout(100)
        finally:
            yield ctx.env.timeout(1)  # not allowed while closing

    ex = make(workflow)
    ex.stop()
    outcome = await ex.run()
    assert outcome.status == "terminated"  # never started: nothing to close
    outcome = await make(workflow, duration=1).run()
    assert outcome.status == "failed" and outcome.error_type == "RuntimeError"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "turbo"}, "mode must be 'fast' or 'realtime'"),
        ({"duration": 0}, "duration must be a positive number"),
        ({"duration": -5.0}, "duration must be a positive number"),
        ({"realtime_factor": 0}, "realtime_factor must be > 0"),
        ({"yield_every": 0}, "yield_every must be >= 1"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ExecutionError, match=message):
        make(lambda ctx: iter(()), **kwargs)


async def test_an_executor_runs_once() -> None:
    def workflow(ctx: WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.env.timeout(1)

    ex = make(workflow)
    await ex.run()
    assert ex.simulated_now == 1
    with pytest.raises(ExecutionError, match="already ran; create a new one"):
        await ex.run()
