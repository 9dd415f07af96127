"""The SimPy executor: runs one workflow definition, fast or in real time, stoppable at any moment.

A workflow is a generator function ``fn(ctx: WorkflowContext)`` that yields SimPy events
(``ctx.env.timeout(...)``) and broadcasts with ``ctx.emit(model)``. The executor owns the SimPy
environment and steps it itself from an asyncio coroutine:

- fast mode steps as fast as possible and yields to the event loop every ``yield_every`` steps,
  so agents and stop requests progress;
- real-time mode uses ``simpy.rt.RealtimeEnvironment(factor, strict=False)`` for the clock but
  never sleeps in SimPy: it waits on an ``asyncio.Event`` until the next event's wall time, so
  :meth:`WorkflowExecutor.stop` takes effect at once.

Ending: when the schedule is empty the outcome is ``completed``; a ``duration`` limit ends it at
that simulated time (``completed``, reason ``duration_limit``); :meth:`stop` or cancelling the
task ends it with ``terminated``; an exception from the workflow gives ``failed``. On a limit or a
stop the executor closes the workflow generator, so its ``try/finally`` (or ``except
GeneratorExit``) closes what it opened (the datataking workflow broadcasts ``end_run`` there) and
``ctx.stop_reason`` tells it why. Nothing keeps running after :meth:`run` returns.

Example::

    >>> import asyncio
    >>> def hello(ctx):
    ...     yield ctx.env.timeout(3)
    ...     ctx.emit({"msg_type": "hello", "at": ctx.env.now})
    >>> seen = []
    >>> ex = WorkflowExecutor(hello, emit=seen.append, execution_id="hello-bob-0001", namespace="bob")
    >>> outcome = asyncio.run(ex.run())
    >>> outcome.status, seen
    ('completed', [{'msg_type': 'hello', 'at': 3}])
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import simpy
import simpy.rt
from pydantic import BaseModel

from workflows.errors import ExecutionError

Mode = Literal["fast", "realtime"]
Status = Literal["completed", "failed", "terminated"]
EndCause = Literal["finished", "duration_limit", "stopped", "cancelled", "error"]
StopReason = Literal["stopped", "duration_limit", "cancelled"]

Emit = Callable[[dict[str, Any]], None]
"""The caller's SYNC sink for broadcasts: publish to the bus, write to the store. Must not block."""


class WorkflowFunction(Protocol):
    """A workflow: a generator function over the context, yielding SimPy events."""

    def __call__(self, ctx: WorkflowContext) -> Generator[Any, Any, Any]: ...


@dataclass
class WorkflowContext:
    """What a running workflow sees: the SimPy clock, its parameters and identity, and ``emit``.

    ``emit`` accepts a pydantic model (sent as ``model_dump(mode="json")``) or a plain dict.
    ``stop_reason`` is ``None`` while running and set before the executor closes the generator.
    """

    env: simpy.Environment
    parameters: BaseModel | None
    execution_id: str
    namespace: str
    run_id: int | None
    clock: Callable[[], datetime]
    _sink: Emit
    stop_reason: StopReason | None = None
    emitted: int = 0

    @property
    def now(self) -> float:
        """Simulated seconds since the start."""
        return float(self.env.now)

    def emit(self, message: BaseModel | dict[str, Any]) -> None:
        """Broadcast one message through the caller's sink."""
        body = message.model_dump(mode="json") if isinstance(message, BaseModel) else message
        self._sink(body)
        self.emitted += 1


@dataclass(frozen=True)
class ExecutionOutcome:
    """How an execution ended."""

    status: Status
    cause: EndCause
    simulated_seconds: float
    wall_seconds: float
    steps: int
    messages: int
    error: str | None = None
    error_type: str | None = None


@dataclass
class _Limits:
    duration: float | None
    yield_every: int


@dataclass
class WorkflowExecutor:
    """Runs one workflow once. Create, ``await run()``, and call ``stop()`` from any coroutine.

    ``realtime_factor`` is wall seconds per simulated second (SimPy's ``factor``). ``stop`` must
    be called on the event loop's thread; from another thread use
    ``loop.call_soon_threadsafe(executor.stop)``.
    """

    workflow: WorkflowFunction
    emit: Emit
    execution_id: str
    namespace: str
    parameters: BaseModel | None = None
    run_id: int | None = None
    mode: Mode = "fast"
    realtime_factor: float = 1.0
    duration: float | None = None
    yield_every: int = 200
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _stop: asyncio.Event | None = field(default=None, init=False, repr=False)
    _stop_requested: bool = field(default=False, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)
    _ctx: WorkflowContext | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("fast", "realtime"):
            raise ExecutionError(f"mode must be 'fast' or 'realtime', got {self.mode!r}")
        if self.duration is not None and not self.duration > 0:
            raise ExecutionError(f"duration must be a positive number of simulated seconds or None, got {self.duration!r}")
        if not self.realtime_factor > 0:
            raise ExecutionError(f"realtime_factor must be > 0 wall seconds per simulated second, got {self.realtime_factor!r}")
        if self.yield_every < 1:
            raise ExecutionError(f"yield_every must be >= 1, got {self.yield_every!r}")

    @property
    def simulated_now(self) -> float:
        """Simulated seconds reached so far (0 before the run starts)."""
        return self._ctx.now if self._ctx is not None else 0.0

    def stop(self) -> None:
        """Ask the running workflow to stop; :meth:`run` returns ``terminated`` promptly."""
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> ExecutionOutcome:
        """Step the workflow to its end, a limit, a stop or a failure. Call once."""
        if self._started:
            raise ExecutionError(f"executor of {self.execution_id} already ran; create a new one per execution")
        self._started = True
        self._stop = asyncio.Event()
        if self._stop_requested:
            self._stop.set()
        env: simpy.Environment
        if self.mode == "realtime":
            env = simpy.rt.RealtimeEnvironment(factor=self.realtime_factor, strict=False)
        else:
            env = simpy.Environment()
        ctx = WorkflowContext(env, self.parameters, self.execution_id, self.namespace, self.run_id, self.clock, self.emit)
        self._ctx = ctx
        limit = env.timeout(self.duration) if self.duration is not None else None
        started = time.monotonic()
        steps = 0

        def outcome(status: Status, cause: EndCause, exc: BaseException | None = None) -> ExecutionOutcome:
            return ExecutionOutcome(
                status=status,
                cause=cause,
                simulated_seconds=float(env.now),
                wall_seconds=time.monotonic() - started,
                steps=steps,
                messages=ctx.emitted,
                error=None if exc is None else (str(exc) or type(exc).__name__),
                error_type=None if exc is None else type(exc).__name__,
            )

        generator = self.workflow(ctx)
        process = env.process(generator)
        try:
            if isinstance(env, simpy.rt.RealtimeEnvironment):
                env.sync()
            while True:
                if self._stop.is_set():
                    return self._close(generator, ctx, "stopped", outcome)
                if limit is not None and limit.processed:
                    return self._close(generator, ctx, "duration_limit", outcome)
                if not process.is_alive:
                    if not process.ok:  # the workflow raised; its own finally blocks have run
                        process.defused = True
                        return outcome("failed", "error", process.value)
                    return outcome("completed", "finished")
                if isinstance(env, simpy.rt.RealtimeEnvironment) and await self._wait_until_due(env):
                    continue  # stop requested while waiting
                if steps % self.yield_every == 0:  # also when real time is catching up
                    await asyncio.sleep(0)
                    if self._stop.is_set():
                        continue
                try:
                    simpy.Environment.step(env)
                except simpy.core.EmptySchedule:
                    return outcome("completed", "finished")
                steps += 1
        except asyncio.CancelledError:
            self._close(generator, ctx, "cancelled", outcome)
            raise
        except Exception as exc:  # the workflow failed; its own finally blocks have run
            generator.close()
            return outcome("failed", "error", exc)

    async def _wait_until_due(self, env: simpy.rt.RealtimeEnvironment) -> bool:
        """Wait until the next event's wall time; True if a stop came first."""
        assert self._stop is not None
        due = env.real_start + (env.peek() - env.env_start) * env.factor
        while (delay := due - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(delay):
                    await self._stop.wait()
                return True
            except TimeoutError:
                continue
        return False

    def _close(
        self,
        generator: Generator[Any, Any, Any],
        ctx: WorkflowContext,
        reason: StopReason,
        outcome: Callable[..., ExecutionOutcome],
    ) -> ExecutionOutcome:
        ctx.stop_reason = reason
        cause: EndCause = reason
        status: Status = "completed" if reason == "duration_limit" else "terminated"
        try:
            generator.close()
        except Exception as exc:  # closing code (e.g. the end_run emit) failed
            return outcome("failed", "error", exc)
        return outcome(status, cause)
