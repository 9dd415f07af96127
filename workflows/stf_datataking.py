"""STF datataking: the ePIC DAQ state machine, broadcasting run-control messages.

States and the message that enters each (times from :class:`workflows.params.DaqParameters`)::

    1 no_beam/not_ready   (start)            wait no_beam_not_ready_delay
    2 beam/not_ready      run_imminent       wait broadcast_delay + beam_not_ready_delay
    3 beam/ready          -                  wait beam_ready_delay
    4 run/physics         start_run          wait broadcast_delay, then one physics period:
                          stf_gen xN         STF k at period_start + k*stf_interval + stf_generation_time
    5 run/standby         pause_run          wait broadcast_delay + standby_duration
    6 run/physics         resume_run         (4 and 5 repeat: physics_period_count, 0 = endless)
    7 beam/not_ready      end_run            wait broadcast_delay + beam_not_ready_end_delay
    8 no_beam/not_ready   -                  done

A physics period lasts ``physics_period_duration`` (or until its last stf_gen, if later). With
``stf_count`` > 0 the run ends right after the ``stf_count``-th STF, and physics periods repeat
beyond ``physics_period_count`` until that count is reached. If the executor stops the workflow
(stop request, duration limit) or it fails while a run is open, ``end_run`` is still broadcast,
with ``reason`` saying why.

Example::

    >>> import asyncio
    >>> from workflows.executor import WorkflowExecutor
    >>> from workflows.params import DaqParameters
    >>> seen = []
    >>> ex = WorkflowExecutor(stf_datataking, emit=seen.append, execution_id="stf_datataking-bob-0001",
    ...                       namespace="bob", parameters=DaqParameters(stf_count=3), run_id=100010)
    >>> asyncio.run(ex.run()).status, [m["msg_type"] for m in seen]
    ('completed', ['run_imminent', 'start_run', 'stf_gen', 'stf_gen', 'stf_gen', 'end_run'])
"""

from __future__ import annotations

import zlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workflows.errors import ExecutionError
from workflows.run_messages import EndReason, EndRun, PauseRun, ResumeRun, RunImminent, StartRun, StfGen
from workflows.params import DaqParameters

if TYPE_CHECKING:
    from workflows.executor import WorkflowContext

TICK_DECIMALS = 6
"""``simulation_tick`` is rounded to microseconds so float sums (24.1 + 3 + 0.1) read cleanly."""

STF_BASE_SIZE = 1_000_000_000
"""Synthetic STF sizes are this many bytes plus up to 2^24 more, derived from the filename."""


def stf_filename(run_id: int, sequence: int) -> str:
    """The STF file name of a run's ``sequence``-th STF (1-based)."""
    return f"swf.{run_id}.{sequence:06d}.stf"


def stf_checksum(filename: str) -> str:
    """Synthetic, deterministic checksum of an STF: ``adler32:<8 hex digits>`` of its name."""
    return f"adler32:{zlib.adler32(filename.encode()):08x}"


def stf_size_bytes(filename: str) -> int:
    """Synthetic, deterministic size of an STF, derived from its name."""
    return STF_BASE_SIZE + (zlib.crc32(filename.encode()) & 0xFFFFFF)


@dataclass
class _Run:
    """What the workflow knows about its run while it runs."""

    ctx: WorkflowContext
    params: DaqParameters
    run_id: int
    stf_sequence: int = 0
    open: bool = False

    def fields(self, state: str, substate: str) -> dict[str, Any]:
        return {
            "namespace": self.ctx.namespace,
            "execution_id": self.ctx.execution_id,
            "run_id": self.run_id,
            "timestamp": self.ctx.clock(),
            "simulation_tick": round(self.ctx.now, TICK_DECIMALS),
            "state": state,
            "substate": substate,
        }

    def count_reached(self) -> bool:
        return self.params.stf_count > 0 and self.stf_sequence >= self.params.stf_count

    def stf(self) -> None:
        sequence = self.stf_sequence + 1
        name = stf_filename(self.run_id, sequence)
        self.ctx.emit(
            StfGen(
                **self.fields("run", "physics"),
                filename=name,
                sequence=sequence,
                size_bytes=stf_size_bytes(name),
                checksum=stf_checksum(name),
            )
        )
        self.stf_sequence = sequence  # counted once broadcast: end_run's total matches what was sent

    def end(self, reason: EndReason) -> None:
        self.open = False
        self.ctx.emit(EndRun(**self.fields("beam", "not_ready"), total_stf_files=self.stf_sequence, reason=reason))


def stf_datataking(ctx: WorkflowContext) -> Generator[Any, Any, None]:
    """The DAQ datataking workflow; needs ``DaqParameters`` (or a subclass) and a ``run_id``."""
    params = ctx.parameters
    if not isinstance(params, DaqParameters):
        raise ExecutionError(f"stf_datataking needs DaqParameters, got {type(params).__name__}; pass ExpandedConfig.parameters")
    if ctx.run_id is None:
        raise ExecutionError("stf_datataking needs a run_id; allocate one in the store and pass run_id=...")
    run = _Run(ctx, params, ctx.run_id)
    env = ctx.env
    try:
        yield env.timeout(params.no_beam_not_ready_delay)
        run.open = True
        ctx.emit(RunImminent(**run.fields("beam", "not_ready")))
        yield env.timeout(params.broadcast_delay + params.beam_not_ready_delay)
        yield env.timeout(params.beam_ready_delay)

        period = 0
        while True:
            if period == 0:
                ctx.emit(StartRun(**run.fields("run", "physics")))
            else:
                ctx.emit(ResumeRun(**run.fields("run", "physics")))
            yield env.timeout(params.broadcast_delay)
            yield from _physics_period(run)
            period += 1
            if run.count_reached():
                break
            more = params.stf_count > 0 or params.physics_period_count == 0 or period < params.physics_period_count
            if not more:
                break
            ctx.emit(PauseRun(**run.fields("run", "standby")))
            yield env.timeout(params.broadcast_delay + params.standby_duration)

        run.end("completed")
        yield env.timeout(params.broadcast_delay + params.beam_not_ready_end_delay)
    except GeneratorExit:
        if run.open:
            run.end(ctx.stop_reason if ctx.stop_reason in ("stopped", "duration_limit") else "stopped")
        raise
    except Exception:
        if run.open:
            try:
                run.end("failed")
            except Exception:  # the sink itself is failing: report the first error, not this one
                pass
        raise


def _physics_period(run: _Run) -> Generator[Any, Any, None]:
    """One physics period: STFs on an absolute schedule (no drift), ending early at stf_count."""
    env, params = run.ctx.env, run.params
    start = run.ctx.now
    for k in range(1, params.stfs_per_period() + 1):
        due = start + k * params.stf_interval + params.stf_generation_time
        yield env.timeout(max(0.0, due - run.ctx.now))
        run.stf()
        if run.count_reached():
            return
    end = start + params.physics_period_duration
    if run.ctx.now < end:
        yield env.timeout(end - run.ctx.now)
