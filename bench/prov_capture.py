"""Provenance capture benchmark: the gateway's hot path, sustained throughput into SQLite, event-loop
stalls while the writer flushes, and the streamed export.

1. hot path: ``Recorder.gateway_call`` per call (captures references and timings; goal <= 5 us),
   against, in the same run, a no-op call with the same arguments and the eager path it replaced
   (redaction + statements built on the caller's thread, then queued): ``gateway_call_vs_eager``;
2. sustained: a producer calls ``gateway_call`` as fast as it can (waiting for room when the
   writer's queue is full, as the gateway's observer does) while the writer flushes into SQLite
   (WAL); records/s = records / time until the last one is committed (goal >= 50,000/s); the
   process CPU per record, and the worst event-loop stall meanwhile (goal <= 20 ms) against the
   same producer with no writer in the same run (what the machine's load alone causes), and
   again (100,000 calls) with the process's heap frozen first (``gc.freeze()``: full garbage
   collections, the largest stalls measured, then skip the startup heap); the CPU per record split
   by thread (``time.thread_time``): the event loop's thread (hot path, producer, flush task,
   SQLAlchemy), the worker's build (redaction, statements, JSON) and chain (ids, hashes, rows), and
   the rest (the SQLite driver's thread: binding, then the statements, whose steps run outside the
   GIL). What holds the GIL bounds the rate on any number of cores: the loop thread, build and chain;
3. a gateway-like paced load (5,000 calls/s for 3 s): event-loop lateness with the writer
   flushing, against the same load with no writer;
4. export of 100,000 stored records as PROV-JSON, streamed to a file (goal <= 3 s), and the same
   10,000 records exported both ways (streamed, and the whole ``ProvDocument`` built then
   serialised) for the ratio ``export_vs_document``; the streamed export's peak traced memory.

Call ids are made as the gateway makes them (``prov_agent.ids.time_ordered_key``: time-ordered;
before 2026-11-30's third step both used ``uuid4``, whose random order cost SQLite half its time).

The last line: ``prov_capture gateway_call_us=... records_per_s=... export_100k_s=... max_stall_ms=...``
followed by the same-run ratios and baselines.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import prov_agent.writer as writer_module
from prov_agent.chain import parse_time
from prov_agent.export import serialise, stream_export, to_document
from prov_agent.gateway_calls import GatewayCalls
from prov_agent.ids import time_ordered_key
from prov_agent.queries import Scope
from prov_agent.recorder import Recorder
from prov_agent.redaction import Redactor
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter

N_HOT = 100_000
N_SUSTAINED = 300_000
N_EXPORT = 100_000
N_EXPORT_BASE = 10_000
ROUND = 10_000  # the hot path is timed in rounds; the queue is emptied between them (untimed)


def _args(i: int) -> dict[str, Any]:
    return {"namespace": "alice", "limit": i}


def _noop(*args: Any, **kwargs: Any) -> str:
    return ""


async def hot_path(store: ProvStore) -> tuple[float, float, float, float]:
    """(gateway_call us, no-op call us, eager us, ProvWriter.append us) per call."""
    ids = [time_ordered_key() for _ in range(ROUND)]
    args = [_args(i) for i in range(ROUND)]
    writer = ProvWriter(store, flush_interval=3600, capacity=ROUND)  # not started: nothing flushes
    rec = Recorder(writer, "hot")
    gateway_call = rec.gateway_call
    timed = {"call": 0.0, "noop": 0.0, "eager": 0.0, "append": 0.0}
    build = GatewayCalls(Redactor()).build
    queue: deque[Any] = deque()
    push = queue.append
    for _ in range(N_HOT // ROUND):
        t0 = time.perf_counter()
        for i in range(ROUND):
            _noop("alice", "claude-code", "2.1.328", "list_runs", args[i], "node-1", "namespace", "ok", 0.0123,
                  call_id=ids[i])
        t1 = time.perf_counter()
        for i in range(ROUND):
            gateway_call("alice", "claude-code", "2.1.328", "list_runs", args[i], "node-1", "namespace", "ok", 0.0123,
                         call_id=ids[i])
        t2 = time.perf_counter()
        writer._buffer.clear()
        for i in range(ROUND):  # what the hot path did before: build the statements, then queue them
            captured = (f"controlroom:call/{ids[i]}", "alice", "claude-code", "2.1.328", "list_runs", args[i],
                        "node-1", "namespace", "ok", 0.0123, True)
            push(("hot", "gateway_call", time.time(), build("hot", time.time(), captured)))
        t3 = time.perf_counter()
        queue.clear()
        body = {"elements": [], "relations": []}
        for _ in range(ROUND):
            writer.append("hot", "note", body)
        t4 = time.perf_counter()
        writer._buffer.clear()
        timed["noop"] += t1 - t0
        timed["call"] += t2 - t1
        timed["eager"] += t3 - t2
        timed["append"] += t4 - t3
    await writer.close()
    per = {k: v / N_HOT * 1e6 for k, v in timed.items()}
    return per["call"], per["noop"], per["eager"], per["append"]


async def _ticker(stop: asyncio.Event, lateness: list[float]) -> None:
    """Wakes every millisecond and notes how late it woke (how long the loop was blocked)."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.001)
        lateness.append(time.perf_counter() - t - 0.001)


class _ThreadCPU:
    """CPU time (``time.thread_time``) spent in the writer's ``prepare`` (build) and ``chain``,
    whichever worker thread runs them: the two are wrapped while the context is open."""

    def __init__(self) -> None:
        self.spent = {"build": 0.0, "chain": 0.0}

    def _timed(self, name: str, fn: Any) -> Any:
        spent = self.spent

        def run(*args: Any) -> Any:
            t = time.thread_time()
            try:
                return fn(*args)
            finally:
                spent[name] += time.thread_time() - t

        return run

    def __enter__(self) -> _ThreadCPU:
        self._saved = writer_module.prepare, writer_module.chain
        writer_module.prepare = self._timed("build", writer_module.prepare)
        writer_module.chain = self._timed("chain", writer_module.chain)
        return self

    def __exit__(self, *exc: object) -> None:
        writer_module.prepare, writer_module.chain = self._saved


SPLIT: dict[str, float] = {}  # the last sustained run's CPU us per record by thread (see the docstring)


async def sustained(store: ProvStore | None, n: int = N_SUSTAINED) -> tuple[float, float, float, int]:
    """(records/s, process CPU us per record, worst event-loop stall ms, dropped) for ``n`` calls;
    ``store=None``: the same producer and ticker with the calls going nowhere (the baseline).
    The CPU per record split by thread is left in ``SPLIT``."""
    ids = [time_ordered_key() for _ in range(n)]
    stop, lateness = asyncio.Event(), []
    ticker = asyncio.create_task(_ticker(stop, lateness))
    split = _ThreadCPU().__enter__()
    t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
    writer = ProvWriter(store, flush_interval=0.2) if store is not None else None
    dropped = 0
    if writer is not None:
        async with writer:
            rec = Recorder(writer, "gateway")
            gateway_call = rec.gateway_call
            for i in range(n):
                if writer.full:  # what ProvCallObserver does: wait for room, never block the loop
                    await writer.wait_for_room()
                gateway_call("alice", "claude-code", "2.1.328", "list_runs", _args(i), "node-1", "namespace", "ok",
                             0.0123, call_id=ids[i])
                if i % 2000 == 1999:
                    await asyncio.sleep(0)  # a real producer yields to the loop
        dropped = writer.dropped
    else:
        for i in range(n):
            _noop("alice", "claude-code", "2.1.328", "list_runs", _args(i), "node-1", "namespace", "ok", 0.0123,
                  call_id=ids[i])
            if i % 2000 == 1999:
                await asyncio.sleep(0)
    rate = n / (time.perf_counter() - t0)
    cpu_us = (time.process_time() - c0) / n * 1e6
    loop_us = (time.thread_time() - m0) / n * 1e6
    split.__exit__()
    build_us, chain_us = (split.spent[k] / n * 1e6 for k in ("build", "chain"))
    SPLIT.clear()
    SPLIT.update(loop=loop_us, build=build_us, chain=chain_us, rest=cpu_us - loop_us - build_us - chain_us)
    stop.set()
    await ticker
    return rate, cpu_us, max(lateness) * 1000, dropped


async def paced(store: ProvStore | None, rate: int = 5000, seconds: float = 3.0) -> tuple[float, float]:
    """A gateway-like load: ``rate`` calls/s in 1 ms steps for ``seconds``; returns the event
    loop's (p99, max) lateness in ms. ``store=None`` is the baseline: the same producer and
    ticker with the calls going nowhere."""
    stop, lateness = asyncio.Event(), []
    ticker = asyncio.create_task(_ticker(stop, lateness))
    writer = ProvWriter(store, flush_interval=0.2) if store is not None else None
    if writer is not None:
        await writer.start()
        call = Recorder(writer, "paced").gateway_call
    else:
        call = _noop
    per_step, i = rate // 1000, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(per_step):
            call("alice", "claude-code", "2.1.328", "list_runs", _args(i), "node-1", "namespace", "ok", 0.0123,
                 call_id=time_ordered_key())
            i += 1
        await asyncio.sleep(0.001)
    stop.set()
    await ticker
    if writer is not None:
        await writer.close()
    lateness.sort()
    return lateness[int(len(lateness) * 0.99)] * 1000, lateness[-1] * 1000


async def export_time(store: ProvStore, directory: Path) -> tuple[float, float, float, float, float, float]:
    """(streamed 100k s, output MB, streamed 10k s, document 10k s, streamed 10k peak traced MB,
    streamed 100k process CPU s)."""
    rows = await store.records(stream="gateway", limit=N_EXPORT)
    assert len(rows) == N_EXPORT
    # the stream's first N_EXPORT records: cut by an (exclusive) time bound just after the last one
    scope = Scope(kind="stream", value="gateway", until=_after(rows[-1].time))
    out = directory / "export.json"
    t0, c0 = time.perf_counter(), time.process_time()
    with out.open("w", encoding="utf-8") as fh:
        count = await stream_export(store, scope, "json", fh.write)
    streamed, cpu = time.perf_counter() - t0, time.process_time() - c0
    size_mb = out.stat().st_size / 1e6
    print(f"export: {count} records -> {size_mb:.1f} MB PROV-JSON streamed to a file in {streamed:.2f} s "
          f"({cpu:.2f} s CPU)")
    small = Scope(kind="stream", value="gateway", until=_after(rows[N_EXPORT_BASE - 1].time))
    t0 = time.perf_counter()
    with (directory / "small.json").open("w", encoding="utf-8") as fh:
        await stream_export(store, small, "json", fh.write)
    streamed_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    text = serialise(to_document(rows[:N_EXPORT_BASE]), "json")
    document_small = time.perf_counter() - t0
    del text
    tracemalloc.start()
    with (directory / "small.json").open("w", encoding="utf-8") as fh:
        await stream_export(store, small, "json", fh.write)
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    print(f"export of {N_EXPORT_BASE:,} records: streamed {streamed_small:.2f} s, whole ProvDocument then "
          f"serialised {document_small:.2f} s (same run); streamed peak traced memory {peak_mb:.1f} MB")
    return streamed, size_mb, streamed_small, document_small, peak_mb, cpu


def _after(stored_time: str) -> datetime:
    """The exclusive upper time bound that keeps a record stored at ``stored_time``."""
    return parse_time(stored_time) + timedelta(microseconds=1)


def _load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


async def main() -> None:
    print(f"load average (1/5/15 min) at start: {_load()}")
    with tempfile.TemporaryDirectory() as directory:
        engine = engine_for(state_dir=Path(directory))
        store = ProvStore(engine)
        await store.create_schema()
        call_us, noop_us, eager_us, append_us = await hot_path(store)
        print(f"hot path: Recorder.gateway_call {call_us:.2f} us (no-op call with the same arguments "
              f"{noop_us:.2f} us; the eager path it replaced {eager_us:.1f} us, ratio {call_us / eager_us:.3f}); "
              f"ProvWriter.append {append_us:.2f} us")
        _, _, base_stall, _ = await sustained(None)
        rate, cpu_us, stall_ms, dropped = await sustained(store)
        split = dict(SPLIT)
        print(f"sustained: {rate:,.0f} records/s into SQLite (flush every 200 ms); {cpu_us:.1f} us CPU per "
              f"record (all threads); worst event-loop stall {stall_ms:.1f} ms (same producer, no writer: "
              f"{base_stall:.1f} ms); dropped {dropped}")
        print(f"sustained CPU per record by thread: event loop {split['loop']:.1f} us, build {split['build']:.1f}, "
              f"chain {split['chain']:.1f} (these hold the GIL: {split['loop'] + split['build'] + split['chain']:.1f}), "
              f"rest (SQLite driver thread) {split['rest']:.1f}")
        gc.freeze()  # what a gateway that freezes its startup heap would see (gc.freeze(), process-wide)
        _, _, frozen_stall, _ = await sustained(store, N_SUSTAINED // 3)
        gc.unfreeze()
        print(f"sustained with the startup heap frozen (gc.freeze): worst event-loop stall {frozen_stall:.1f} ms")
        base_p99, base_max = await paced(None)
        p99, worst = await paced(store)
        print(f"paced 5,000 calls/s for 3 s: event-loop lateness p99 {p99:.1f} ms, max {worst:.1f} ms "
              f"(same load, no writer: p99 {base_p99:.1f} ms, max {base_max:.1f} ms)")
        t0 = time.perf_counter()
        result = await store.verify()
        print(f"verify: {result.records} records ok={result.ok} in {time.perf_counter() - t0:.1f} s")
        export_s, size_mb, small_s, document_s, peak_mb, export_cpu_s = await export_time(store, Path(directory))
        await engine.dispose()
    print(f"load average (1/5/15 min) at end: {_load()}")
    print(f"prov_capture gateway_call_us={call_us:.2f} records_per_s={rate:.0f} export_100k_s={export_s:.2f} "
          f"max_stall_ms={stall_ms:.1f} gateway_call_vs_eager={call_us / eager_us:.3f} frozen_heap_stall_ms={frozen_stall:.1f} "
          f"stall_no_writer_ms={base_stall:.1f} paced_max_ms={worst:.1f} paced_no_writer_max_ms={base_max:.1f} "
          f"export_vs_document_10k={small_s / document_s:.3f} cpu_us_per_record={cpu_us:.1f} "
          f"gil_us_per_record={split['loop'] + split['build'] + split['chain']:.1f} "
          f"sqlite_thread_us_per_record={split['rest']:.1f} export_100k_cpu_s={export_cpu_s:.2f} "
          f"export_mb={size_mb:.1f} export_peak_mb_10k={peak_mb:.1f} dropped={dropped}")


if __name__ == "__main__":
    asyncio.run(main())
