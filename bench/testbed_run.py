"""The workflow runner in fast mode, store writes included, against the executor alone.

Runs 120 simulated seconds of stf_datataking (stf_processing_default's DAQ parameters with
endless physics periods and a 120 s duration limit) through the real path: ``start_workflow``
on a testbed whose only agent is the workflow runner, embedded bus, SQLite store; the run's
messages are published on the bus and written to the store in batches with its state events,
run row and execution status. Timed from ``start_workflow`` until ``wait_for_execution``
returns the completed execution. Baseline, measured in the same run: the executor alone
emitting into a list. Medians of ``--repeat`` runs.

    .venv/bin/python bench/testbed_run.py [--repeat 10] [--full]

``--full`` also times a complete fast-processing testbed (every agent, 10 STFs) for information.
Last line: ``testbed_run wall_s=... executor_only_s=... goal_s=0.2``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.testbed import TestbedManager
from workflows.config import DEFAULT_WORKFLOWS_DIR, expand_config
from workflows.definitions import get_definition
from workflows.executor import WorkflowExecutor
from workflows.store.database import default_url
from workflows.store.store import Store

SIMULATED_S = 120.0
PARAMS: dict[str, Any] = {"physics_period_count": 0, "duration": SIMULATED_S}
GOAL_S = 0.2


async def executor_only() -> tuple[float, int]:
    params = expand_config("stf_processing_default", parameters={"physics_period_count": 0}).parameters
    sink: list[dict[str, Any]] = []
    executor = WorkflowExecutor(get_definition("stf_datataking").function, emit=sink.append,
                                execution_id="stf_datataking-bench-0001", namespace="bench", parameters=params,
                                run_id=100010, duration=SIMULATED_S)
    start = time.perf_counter()
    await executor.run()
    return time.perf_counter() - start, len(sink)


async def runner_with_store(workflows_dir: Path, state_dir: Path, repeat: int) -> tuple[list[float], int]:
    walls: list[float] = []
    stfs = 0
    async with Store.from_url(default_url(state_dir)) as store:
        async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="bench",
                                  workflows_dir=workflows_dir) as manager:
            await manager.start_testbed("bench", config="runner_only")
            for _ in range(repeat + 1):  # the first run warms caches and is not counted
                start = time.perf_counter()
                record = await manager.start_workflow("bench", config="stf_processing_default", parameters=PARAMS)
                record = await manager.wait_for_execution(record.execution_id, 60)
                wall = time.perf_counter() - start
                if record.status != "completed":
                    raise SystemExit(f"execution {record.execution_id} ended {record.status}: {record.error}")
                walls.append(wall)
                stfs = record.stf_count
    return walls[1:], stfs


async def full_testbed(state_dir: Path) -> float:
    async with Store.from_url(default_url(state_dir)) as store:
        async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="bench") as manager:
            await manager.start_testbed("full")
            start = time.perf_counter()
            record = await manager.start_workflow("full", parameters={"stf_count": 10})
            await manager.wait_for_execution(record.execution_id, 300)
            return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="testbed_run_"))
    try:
        workflows_dir = tmp / "workflows"
        shutil.copytree(DEFAULT_WORKFLOWS_DIR, workflows_dir)
        (workflows_dir / "runner_only.toml").write_text('[testbed]\nnamespace = "bench"\n')
        baseline = [await executor_only() for _ in range(args.repeat + 1)][1:]
        executor_s = statistics.median(b[0] for b in baseline)
        walls, stfs = await runner_with_store(workflows_dir, tmp / "state", args.repeat)
        wall_s = statistics.median(walls)
        print(f"simulated: {SIMULATED_S:.0f} s, {stfs} STFs, {baseline[0][1]} messages")
        print(f"executor alone (list sink): median {1000 * executor_s:.2f} ms")
        print(f"runner + bus + SQLite store: median {1000 * wall_s:.2f} ms, max {1000 * max(walls):.2f} ms "
              f"(ratio {wall_s / executor_s:.1f}x the executor alone)")
        if args.full:
            print(f"complete fast-processing testbed, 10 STFs: {await full_testbed(tmp / 'full'):.2f} s")
        print(f"testbed_run wall_s={wall_s:.4f} executor_only_s={executor_s:.4f} goal_s={GOAL_S}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
