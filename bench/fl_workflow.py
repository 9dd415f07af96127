"""Benchmark: the FL-shaped task workflow scaled to 2,420 tasks of fixed duration on N workers.

Shape: prepare -> T rounds of (K train tasks -> aggregate -> evaluate) -> report, with K=401 and
T=6: 1 + 401*6 + 6 + 6 + 1 = 2,420 tasks, each a real-time sleep of ``--duration`` seconds.
Figure: wall-to-compute ratio = wall time / (total task time / N); goal <= 1.1 (Pegasus ~4).
The round barriers alone set a floor (the last train wave and the serial aggregate/evaluate leave
workers idle); it is printed as ``barrier_floor``.

    .venv/bin/python bench/fl_workflow.py                       # embedded bus, 8 in-process workers
    .venv/bin/python bench/fl_workflow.py --stomp 127.0.0.1:61613  # ActiveMQ, 8 child-process workers
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
import time
import uuid

from workflows.tasks.plan import SleepTemplate, StagePlan, build_plan
from agents.tasks.scheduler import TaskScheduler
from agents.tasks.worker import TaskWorker

K, T = 401, 6


def plan(duration: float):  # noqa: ANN201 - a script
    sleep = SleepTemplate(duration)
    return build_plan([
        StagePlan("prepare", (), 1, 1, sleep),
        StagePlan("train", ("prepare",), K, T, sleep),
        StagePlan("aggregate", ("train",), 1, T, sleep),
        StagePlan("evaluate", ("aggregate",), 1, T, sleep),
        StagePlan("report", ("evaluate",), 1, 1, sleep),
    ])


async def run_embedded(workers: int, duration: float):  # noqa: ANN201
    from agents.testbed.bus.embedded import EmbeddedBus

    async with EmbeddedBus() as bus:
        pool = [TaskWorker(bus, "bench", name=f"w{i}") for i in range(workers)]
        for worker in pool:
            await worker.start()
        summary = await TaskScheduler(plan(duration), bus, namespace="bench", execution_id="fl-bench").run()
        for worker in pool:
            await worker.stop()
        return summary


async def run_stomp(workers: int, duration: float, address: str):  # noqa: ANN201
    from agents.testbed.bus.stomp import StompBus

    host, _, port = address.rpartition(":")
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    children = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agents.tasks.worker", "--namespace", namespace, "--stomp", address,
        "--name", f"w{i}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL) for i in range(workers)]
    try:
        for child in children:
            assert child.stdout is not None
            await asyncio.wait_for(child.stdout.readline(), 60)
        async with StompBus(host, int(port)) as bus:
            return await TaskScheduler(plan(duration), bus, namespace=namespace, execution_id="fl-bench").run()
    finally:
        for child in children:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            await child.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=0.05, help="seconds per task (slept)")
    parser.add_argument("--stomp", default=None, help="HOST:PORT of ActiveMQ; workers run as child processes")
    args = parser.parse_args()
    started = time.monotonic()
    if args.stomp:
        summary = asyncio.run(run_stomp(args.workers, args.duration, args.stomp))
    else:
        summary = asyncio.run(run_embedded(args.workers, args.duration))
    elapsed = time.monotonic() - started
    if summary.status != "completed":
        print(f"run {summary.status}: {summary.reason}")
        return 1
    tasks = len(summary.tasks)
    ratio = summary.duration_s / (summary.compute_s / args.workers)
    waves = 1 + T * (math.ceil(K / args.workers) + 2) + 1
    floor = waves * args.duration / (tasks * args.duration / args.workers)
    print(f"bus={'stomp' if args.stomp else 'embedded'} tasks={tasks} workers={args.workers} "
          f"task_duration={args.duration}s")
    print(f"wall={summary.duration_s:.3f}s total_task_time={summary.compute_s:.3f}s "
          f"ideal_wall={summary.compute_s / args.workers:.3f}s barrier_floor={floor:.3f} (process {elapsed:.1f}s)")
    print(f"fl_workflow tasks={tasks} workers={args.workers} wall_to_compute={ratio:.3f} goal=1.1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
