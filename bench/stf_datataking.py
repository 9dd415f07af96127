"""STF datataking in fast mode: wall time of a simulated run, messages emitted into a list.

Two runs, each repeated and the median taken:

- the default DAQ parameters (stf_processing_default: 2 physics periods of 10 s, an STF every
  2 s); its simulated duration is computed from the parameters and printed;
- 120 simulated seconds (the same parameters with endless physics periods and a 120 s duration
  limit), the figure the reference quotes ("a 120 s workflow in ~2 s"). Goal: 0.2 s.

    .venv/bin/python bench/stf_datataking.py [--repeat 20]

Last line: ``stf_datataking_fast wall_s=... goal_s=0.2``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from workflows.config import expand_config
from workflows.definitions import get_definition
from workflows.executor import ExecutionOutcome, WorkflowExecutor
from workflows.params import DaqParameters


def simulated_duration(p: DaqParameters) -> float:
    """Simulated seconds of a run with a fixed number of periods and no stf_count."""
    period = p.broadcast_delay + max(p.physics_period_duration, p.stfs_per_period() * p.stf_interval + p.stf_generation_time)
    standby = p.broadcast_delay + p.standby_duration
    return (
        p.no_beam_not_ready_delay + p.broadcast_delay + p.beam_not_ready_delay + p.beam_ready_delay
        + p.physics_period_count * period + (p.physics_period_count - 1) * standby
        + p.broadcast_delay + p.beam_not_ready_end_delay
    )


async def one_run(params: DaqParameters, duration: float | None) -> tuple[float, ExecutionOutcome, int]:
    sink: list[dict[str, Any]] = []
    definition = get_definition("stf_datataking")
    executor = WorkflowExecutor(
        definition.function, emit=sink.append, execution_id="stf_datataking-bench-0001",
        namespace="bench", parameters=params, run_id=100010, duration=duration,
    )
    start = time.perf_counter()
    outcome = await executor.run()
    return time.perf_counter() - start, outcome, len(sink)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    t0 = time.perf_counter()
    config = expand_config("stf_processing_default")
    print(f"config expansion: {1000 * (time.perf_counter() - t0):.2f} ms (first, cold)")
    params = config.parameters
    print(f"default parameters: simulated duration {simulated_duration(params):.1f} s (computed)")
    walls, outcome, messages = [], None, 0
    for _ in range(args.repeat):
        wall, outcome, messages = await one_run(params, None)
        walls.append(wall)
    assert outcome is not None and outcome.status == "completed"
    print(f"default run: simulated {outcome.simulated_seconds:.1f} s, {messages} messages, "
          f"{outcome.steps} steps, wall median {1000 * statistics.median(walls):.2f} ms")

    endless = params.model_copy(update={"physics_period_count": 0})
    walls = []
    for _ in range(args.repeat):
        wall, outcome, messages = await one_run(endless, 120.0)
        walls.append(wall)
    assert outcome is not None and outcome.simulated_seconds == 120.0
    wall_s = statistics.median(walls)
    print(f"120 s run: {messages} messages, {outcome.steps} steps, wall median {1000 * wall_s:.2f} ms, "
          f"speed-up {120.0 / wall_s:,.0f}x real time")
    print(f"stf_datataking_fast wall_s={wall_s:.5f} goal_s=0.2")


if __name__ == "__main__":
    asyncio.run(main())
