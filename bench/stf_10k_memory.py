"""Memory of a long fast run: 10,000 STFs through a complete in-process testbed.

Starts every agent in this process (embedded bus, SQLite store in a temporary directory),
runs stf_datataking (fast_processing_default, endless physics periods, ``--stf-count`` STFs)
and samples this process's RSS (psutil) every 0.25 s. Pipeline progress is the share of slices
resolved; RSS is printed at 10 %, 50 % and 100 % of it, with the peak. Flat memory means the
growth after the first 10 % stays small whatever the run length.

    .venv/bin/python bench/stf_10k_memory.py [--stf-count 10000] [--slices-per-sample 15]
        [--sqlite-mmap-mb 256] [--sqlite-cache-mb 32] [--trace-python]

RSS counts the SQLite caches as they fill: the memory map of the database file (file-backed
pages, up to ``--sqlite-mmap-mb``; Linux reports them as "shared") and each connection's page
cache (anonymous, up to ``--sqlite-cache-mb``). Both stop at their cap, so they look like growth
in a run shorter than it takes to fill them. Every mark prints RSS and the anonymous part
(RSS - shared); ``--sqlite-mmap-mb 0 --sqlite-cache-mb 2`` turns the caches down so RSS shows
the agents' own growth. ``--trace-python`` also prints the Python heap (tracemalloc; about
twice slower).

The run is bound by the store's write rate (every STF, sample and slice is a row).
Last line: ``stf_10k peak_rss_mb=... growth_mb_after_10pct=... anon_growth_mb_after_10pct=...``.
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
from agents.testbed.framework.status import ExecutionProgress
from agents.testbed.testbed import TestbedManager
from workflows.store.database import Database, default_url
from workflows.store.store import Store

MB = 1024 * 1024


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stf-count", type=int, default=10_000)
    parser.add_argument("--slices-per-sample", type=int, default=15)
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--sqlite-mmap-mb", type=int, default=256)
    parser.add_argument("--sqlite-cache-mb", type=int, default=32)
    parser.add_argument("--trace-python", action="store_true")
    args = parser.parse_args()
    if args.trace_python:
        tracemalloc.start()
    process = psutil.Process()
    samples: list[tuple[float, float]] = []
    marks: dict[int, tuple[float, float]] = {}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), process.memory_info().rss / MB))
            await asyncio.sleep(0.25)

    tmp = Path(tempfile.mkdtemp(prefix="stf_10k_"))
    expected = args.stf_count * args.slices_per_sample
    try:
        database = Database(default_url(tmp), sqlite_mmap_bytes=args.sqlite_mmap_mb * MB,
                            sqlite_cache_kib=max(1, args.sqlite_cache_mb * 1024))
        async with Store(database) as store:
            async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="bench",
                                      heartbeat_interval_s=30.0, drain_timeout_s=600.0) as manager:
                await manager.start_testbed("mem")
                before = process.memory_info()
                baseline, baseline_anon = before.rss / MB, (before.rss - before.shared) / MB
                sampler = asyncio.create_task(sample())
                start = time.perf_counter()

                async def on_progress(progress: ExecutionProgress) -> None:
                    resolved = progress.slices.get("done", 0) + progress.slices.get("failed", 0)
                    info = process.memory_info()
                    rss, anon = info.rss / MB, (info.rss - info.shared) / MB
                    for pct in (10, 50, 100):
                        if pct not in marks and resolved >= expected * pct / 100:
                            marks[pct] = (rss, anon)
                            heap = (f"  Python heap {tracemalloc.get_traced_memory()[0] / MB:6.1f} MB"
                                    if args.trace_python else "")
                            print(f"{pct:3d}%  {resolved:7d} slices  {time.perf_counter() - start:7.1f} s  "
                                  f"RSS {rss:7.1f} MB  anonymous {anon:7.1f} MB{heap}", flush=True)

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
    nan = (float("nan"), float("nan"))
    print(f"SQLite caps: mmap {args.sqlite_mmap_mb} MB, page cache {args.sqlite_cache_mb} MB per connection")
    print(f"RSS before the run {baseline:.1f} MB; at 10% {marks.get(10, nan)[0]:.1f} MB, "
          f"50% {marks.get(50, nan)[0]:.1f} MB, 100% {marks.get(100, nan)[0]:.1f} MB; peak {peak:.1f} MB")
    print(f"anonymous (RSS - shared) before {baseline_anon:.1f} MB; at 10% {marks.get(10, nan)[1]:.1f} MB, "
          f"50% {marks.get(50, nan)[1]:.1f} MB, 100% {marks.get(100, nan)[1]:.1f} MB")
    growth = marks.get(100, (peak, 0.0))[0] - marks.get(10, (baseline, 0.0))[0]
    anon_growth = marks.get(100, nan)[1] - marks.get(10, (0.0, baseline_anon))[1]
    print(f"stf_10k peak_rss_mb={peak:.1f} growth_mb_after_10pct={growth:.1f} "
          f"anon_growth_mb_after_10pct={anon_growth:.1f} slices_per_s={monitor.slices.get('done', 0) / elapsed:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
