"""Slices per second through a complete in-process fast-processing testbed.

Starts every agent in this process (embedded bus, SQLite store in a temporary directory), runs
stf_datataking (fast_processing_default, endless physics periods, ``--stf-count`` STFs,
``--slices-per-sample`` slices each) and times it from ``start_workflow`` until the execution
completes with every slice resolved. The figure is resolved slices per wall second; the
store's write rate is what bounds it (every STF, sample and slice status is a row).

Baseline, measured in the same run: raw aiosqlite updating the same number of slice rows one
statement and one commit per row (what a per-slice ``mark_slice`` costs at the driver level).

    .venv/bin/python bench/testbed_slices.py [--stf-count 200] [--slices-per-sample 15]

Last line: ``testbed_slices slices_per_s=... raw_row_commits_per_s=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import aiosqlite

from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.testbed import TestbedManager
from workflows.store.database import default_url
from workflows.store.store import Store


async def full_run(state_dir: Path, stf_count: int, slices_per_sample: int, workers: int) -> tuple[int, float]:
    async with Store.from_url(default_url(state_dir)) as store:
        async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="bench",
                                  heartbeat_interval_s=30.0, drain_timeout_s=600.0) as manager:
            await manager.start_testbed("slices")
            start = time.perf_counter()
            record = await manager.start_workflow("slices", parameters={
                "stf_count": stf_count, "physics_period_count": 0, "slices_per_sample": slices_per_sample,
                "target_worker_count": workers, "max_worker_count": max(60, workers),
            })
            record = await manager.wait_for_execution(record.execution_id, 3600)
            elapsed = time.perf_counter() - start
            if record.status != "completed":
                raise SystemExit(f"execution {record.execution_id} ended {record.status}: {record.error}")
            counts = await store.runs.slice_counts(record.execution_id)
    return counts["done"] + counts["failed"], elapsed


async def raw_row_commits(path: Path, rows: int) -> float:
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("CREATE TABLE s (tf TEXT, id INTEGER, status TEXT, PRIMARY KEY (tf, id))")
        await conn.executemany("INSERT INTO s VALUES (?, ?, 'queued')", [("tf", i) for i in range(rows)])
        start = time.perf_counter()
        for i in range(rows):
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute("UPDATE s SET status = 'done' WHERE tf = ? AND id = ?", ("tf", i))
            await conn.execute("COMMIT")
        return rows / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stf-count", type=int, default=200)
    parser.add_argument("--slices-per-sample", type=int, default=15)
    parser.add_argument("--workers", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="testbed_slices_"))
    try:
        raw = await raw_row_commits(tmp / "raw.db", 2000)
        resolved, elapsed = await full_run(tmp / "state", args.stf_count, args.slices_per_sample, args.workers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate = resolved / elapsed
    print(f"{args.stf_count} STFs x {args.slices_per_sample} slices: {resolved} slices resolved in {elapsed:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"raw aiosqlite, one UPDATE + commit per row: {raw:.0f} rows/s")
    print(f"testbed_slices slices_per_s={rate:.0f} raw_row_commits_per_s={raw:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
