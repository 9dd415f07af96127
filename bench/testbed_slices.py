"""Slices per second through a complete in-process fast-processing testbed, on SQLite and PostgreSQL.

Starts every agent in this process (embedded bus; the store on SQLite in a temporary directory,
then on a fresh PostgreSQL database), runs stf_datataking (fast_processing_default, endless
physics periods, ``--stf-count`` STFs, ``--slices-per-sample`` slices each) and times it from
``start_workflow`` until the execution completes with every slice resolved. The figure is
resolved slices per wall second; every STF, sample, slice and result is a row, so the store's
write path is what the testbed adds to the bus.

Baseline, measured in the same run: the embedded bus alone carrying the same number of slices
through the same pattern (``bench/slice_throughput.py``'s dispatcher -> workers -> collector,
client acks, no store; the median of three rounds), so ``ratio`` = testbed / bus alone says how close the store keeps up
with the bus on this machine at this load. Goals: >= 5,000 slices/s on SQLite, >= 3,000 on
PostgreSQL.

PostgreSQL: ``--postgres-url postgresql+asyncpg://USER:PASSWORD@HOST/DB`` (a server; a fresh
database is created on it and dropped after), else the CI role at 127.0.0.1:5432 when it
answers (``.ci/run``: controlroom / ``CONTROLROOM_TEST_PG_PASSWORD``), else skipped.

    .venv/bin/python bench/testbed_slices.py [--stf-count 200] [--slices-per-sample 15] [--postgres-url URL]

CPU per resolved slice: this process's CPU time (``time.process_time``: the event loop with every
agent, and on SQLite the store's write thread) from ``start_workflow`` until the execution is
complete, divided by the slices resolved. Unlike slices/s it does not depend much on what else
the machine runs, so it is the figure to compare runs made under different loads. On
PostgreSQL the server's own CPU (its backend processes) is not counted.

Last line: ``testbed_slices slices_per_s=... [postgres_slices_per_s=...] bus_alone_per_s=... ratio=...
cpu_us_per_slice=... [postgres_cpu_us_per_slice=...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: one fresh-database helper

from slice_throughput import run_embedded  # noqa: E402

from agents.testbed.bus.embedded import EmbeddedBus  # noqa: E402
from agents.testbed.testbed import TestbedManager  # noqa: E402
from workflows.store.database import default_url  # noqa: E402
from workflows.store.store import Store  # noqa: E402
from tests.support.pgdatabase import fresh_database  # noqa: E402

BUS_ROUNDS = 3
CI_POSTGRES = "postgresql+asyncpg://controlroom:{password}@127.0.0.1:5432/controlroom_ci"


async def full_run(url: str, stf_count: int, slices_per_sample: int,
                   workers: int) -> tuple[int, float, float, float]:
    """One execution through a complete testbed on the store at ``url``: (slices resolved, wall
    seconds, writes per store transaction, this process's CPU seconds over the same window)."""
    async with Store.from_url(url) as store:
        async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="bench",
                                  heartbeat_interval_s=30.0, drain_timeout_s=600.0) as manager:
            await manager.start_testbed("slices")
            writer = store.db.writer
            flushes, writes = writer.flushes, writer.writes
            start, cpu_start = time.perf_counter(), time.process_time()
            record = await manager.start_workflow("slices", parameters={
                "stf_count": stf_count, "physics_period_count": 0, "slices_per_sample": slices_per_sample,
                "target_worker_count": workers, "max_worker_count": max(60, workers),
            })
            record = await manager.wait_for_execution(record.execution_id, 3600)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            if record.status != "completed":
                raise SystemExit(f"execution {record.execution_id} ended {record.status}: {record.error}")
            counts = await store.runs.slice_counts(record.execution_id)
            per_flush = (writer.writes - writes) / max(1, writer.flushes - flushes)
    return counts["done"] + counts["failed"], elapsed, per_flush, cpu


def postgres_server(given: str | None) -> str | None:
    """The PostgreSQL server to use: the one given, else the CI role on 127.0.0.1:5432 if it answers."""
    if given:
        return given
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
    except OSError:
        return None
    return CI_POSTGRES.format(password=os.environ.get("CONTROLROOM_TEST_PG_PASSWORD", "controlroom-ci-password"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stf-count", type=int, default=200)
    parser.add_argument("--slices-per-sample", type=int, default=15)
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--postgres-url", default=None, help="a PostgreSQL server URL (postgresql+asyncpg://...)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    total = args.stf_count * args.slices_per_sample
    bus_rates = sorted([(await run_embedded(total, prefetch=1, window=1000))[0] for _ in range(BUS_ROUNDS)])
    bus_rate = bus_rates[len(bus_rates) // 2]  # a run this short moves 2-4x with the machine's load
    print(f"embedded bus alone, {total} slices (dispatcher -> 4 workers -> collector), median of {BUS_ROUNDS}: "
          f"{bus_rate:.0f} slices/s ({', '.join(f'{r:.0f}' for r in bus_rates)})")

    tmp = Path(tempfile.mkdtemp(prefix="testbed_slices_"))
    try:
        resolved, elapsed, per_flush, cpu = await full_run(default_url(tmp / "state"), args.stf_count,
                                                           args.slices_per_sample, args.workers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate = resolved / elapsed
    cpu_us = {"sqlite": cpu / resolved * 1e6}
    print(f"SQLite: {args.stf_count} STFs x {args.slices_per_sample} slices: {resolved} resolved in {elapsed:.2f} s "
          f"= {rate:.0f} slices/s ({per_flush:.1f} writes per store transaction; {cpu:.2f} s CPU = "
          f"{cpu_us['sqlite']:.0f} us per slice; load average {os.getloadavg()[0]:.1f})")
    line = f"testbed_slices slices_per_s={rate:.0f}"

    server = None if args.no_postgres else postgres_server(args.postgres_url)
    if server is not None:
        async with fresh_database(server) as url:
            resolved, elapsed, per_flush, cpu = await full_run(url, args.stf_count, args.slices_per_sample,
                                                               args.workers)
        pg_rate = resolved / elapsed
        cpu_us["postgres"] = cpu / resolved * 1e6
        print(f"PostgreSQL: {resolved} resolved in {elapsed:.2f} s = {pg_rate:.0f} slices/s "
              f"({per_flush:.1f} writes per store transaction; {cpu:.2f} s CPU in this process = "
              f"{cpu_us['postgres']:.0f} us per slice; load average {os.getloadavg()[0]:.1f})")
        line += f" postgres_slices_per_s={pg_rate:.0f}"
    else:
        why = "--no-postgres" if args.no_postgres else "no --postgres-url and nothing answers on 127.0.0.1:5432"
        print(f"PostgreSQL: skipped ({why})")
    print("goals: SQLite >= 5,000 slices/s, PostgreSQL >= 3,000 slices/s")
    cpu_figures = f"cpu_us_per_slice={cpu_us['sqlite']:.0f}"
    if "postgres" in cpu_us:
        cpu_figures += f" postgres_cpu_us_per_slice={cpu_us['postgres']:.0f}"
    print(f"{line} bus_alone_per_s={bus_rate:.0f} ratio={rate / bus_rate:.3f} {cpu_figures}")


if __name__ == "__main__":
    asyncio.run(main())
