"""Memory of a long fast run: 10,000 STFs through a complete in-process testbed.

Starts every agent in this process (embedded bus, SQLite store in a temporary directory),
runs stf_datataking (fast_processing_default, endless physics periods, ``--stf-count`` STFs)
and samples this process's RSS (psutil) every 0.25 s. Pipeline progress is the share of slices
resolved; RSS is printed at 10 %, 50 % and 100 % of it, with the peak. Flat memory means the
growth after the first 10 % stays small whatever the run length.

    .venv/bin/python bench/stf_10k_memory.py [--stf-count 10000] [--slices-per-sample 15] [--trace-python]

``--trace-python`` also prints the Python heap (tracemalloc; about twice slower): it tells the
agents' own memory (Python objects) from the SQLite library's page caches and WAL map, which
RSS counts too.

The run is bound by the store's write rate (every STF, sample and slice is a row); on this
2-core machine ``--slices-per-sample 1`` keeps a 10,000-STF run to a few minutes.
Last line: ``stf_10k peak_rss_mb=... growth_mb_after_10pct=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.status import ExecutionProgress
from agents.testbed.testbed import TestbedManager
from workflows.store.database import default_url
from workflows.store.store import Store

MB = 1024 * 1024


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stf-count", type=int, default=10_000)
    parser.add_argument("--slices-per-sample", type=int, default=15)
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--trace-python", action="store_true")
    args = parser.parse_args()
    if args.trace_python:
        tracemalloc.start()
    process = psutil.Process()
    samples: list[tuple[float, float]] = []
    marks: dict[int, float] = {}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), process.memory_info().rss / MB))
            await asyncio.sleep(0.25)

    tmp = Path(tempfile.mkdtemp(prefix="stf_10k_"))
    expected = args.stf_count * args.slices_per_sample
    try:
        async with Store.from_url(default_url(tmp)) as store:
            async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="bench",
                                      heartbeat_interval_s=30.0, drain_timeout_s=600.0) as manager:
                await manager.start_testbed("mem")
                baseline = process.memory_info().rss / MB
                sampler = asyncio.create_task(sample())
                start = time.perf_counter()

                async def on_progress(progress: ExecutionProgress) -> None:
                    resolved = progress.slices.get("done", 0) + progress.slices.get("failed", 0)
                    rss = process.memory_info().rss / MB
                    for pct in (10, 50, 100):
                        if pct not in marks and resolved >= expected * pct / 100:
                            marks[pct] = rss
                            heap = (f"  Python heap {tracemalloc.get_traced_memory()[0] / MB:6.1f} MB"
                                    if args.trace_python else "")
                            print(f"{pct:3d}%  {resolved:7d} slices  {time.perf_counter() - start:7.1f} s  "
                                  f"RSS {rss:7.1f} MB{heap}", flush=True)

                record = await manager.start_workflow("mem", parameters={
                    "stf_count": args.stf_count, "physics_period_count": 0,
                    "slices_per_sample": args.slices_per_sample,
                    "target_worker_count": args.workers, "max_worker_count": max(60, args.workers),
                })
                record = await manager.wait_for_execution(record.execution_id, 24 * 3600, on_progress)
                stop.set()
                await sampler
                elapsed = time.perf_counter() - start
                monitor = await manager.monitor(record.execution_id)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    peak = max(rss for _, rss in samples)
    print(f"execution {record.execution_id}: {record.status}, {record.stf_count} STFs, "
          f"{monitor.slices.get('done', 0)} slices done in {elapsed:.1f} s")
    print(f"RSS before the run {baseline:.1f} MB; at 10% {marks.get(10, float('nan')):.1f} MB, "
          f"50% {marks.get(50, float('nan')):.1f} MB, 100% {marks.get(100, float('nan')):.1f} MB; peak {peak:.1f} MB")
    growth = marks.get(100, peak) - marks.get(10, baseline)
    print(f"stf_10k peak_rss_mb={peak:.1f} growth_mb_after_10pct={growth:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
