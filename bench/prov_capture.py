"""Provenance capture benchmark: hot-path cost, sustained throughput into SQLite, export time.

1. hot path: ``ProvWriter.append`` per record, against a no-op method call with the same
   arguments measured in the same run (goal: <= 5 us per record);
   the full ``Recorder.gateway_call`` (redaction + statements + append) is printed for reference;
2. sustained throughput: a producer appends realistic gateway-call records as fast as it can
   while the writer flushes every 200 ms into SQLite (WAL); records/s = records / time until
   the last one is committed (goal: >= 50,000 records/s); also the process CPU per record (the
   figure the machine's load does not distort) and the worst event-loop stall meanwhile;
3. a gateway-like paced load (5,000 records/s): how late the event loop wakes with the writer
   flushing, against the same load with no writer (the hot path must not be blocked);
4. PROV-JSON export of 100,000 stored records (build the ProvDocument + serialise).

The last line: ``prov_capture us_per_record=... records_per_s=... cpu_us_per_record=... export_100k_s=...``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from prov_agent.export import serialise, to_document
from prov_agent.recorder import Recorder
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter

N_HOT = 200_000
N_SUSTAINED = 300_000
N_EXPORT = 100_000


class _Sink:
    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def append(self, stream: str, kind: str, body: dict) -> None:
        self.bodies.append(body)

    def noop(self, stream: str, kind: str, body: dict) -> None:
        return None


def _sample_bodies() -> tuple[dict, dict]:
    """The gateway's first call record in a stream (declares client and principal) and a later one."""
    sink = _Sink()
    rec = Recorder(sink, "gateway")  # type: ignore[arg-type]
    for _ in range(2):
        rec.gateway_call(
            "alice", "claude-code", "2.1.328", "list_runs", {"namespace": "alice", "limit": 50}, "node-1", "namespace", "ok", 0.0123
        )
    return sink.bodies[0], sink.bodies[1]


def _sample_body() -> dict:
    return _sample_bodies()[0]


async def hot_path(store: ProvStore) -> tuple[float, float, float]:
    body = _sample_body()
    sink = _Sink()
    noop = sink.noop
    t0 = time.perf_counter()
    for _ in range(N_HOT):
        noop("gateway", "gateway_call", body)
    baseline = (time.perf_counter() - t0) / N_HOT * 1e6
    writer = ProvWriter(store, flush_interval=3600)  # no flush during the timing
    append = writer.append
    t0 = time.perf_counter()
    for _ in range(N_HOT):
        append("hot", "gateway_call", body)
    per_record = (time.perf_counter() - t0) / N_HOT * 1e6
    writer._buffer.clear()  # not stored: only the hot path was being timed
    await writer.close()
    rec_writer = ProvWriter(store, flush_interval=3600)
    rec = Recorder(rec_writer, "hot")
    n = 20_000
    t0 = time.perf_counter()
    for _ in range(n):
        rec.gateway_call("alice", "claude-code", "2.1.328", "list_runs", {"namespace": "alice"}, "node-1", "ns", "ok", 0.01)
    recorder_us = (time.perf_counter() - t0) / n * 1e6
    rec_writer._buffer.clear()
    await rec_writer.close()
    return per_record, baseline, recorder_us


async def _ticker(stop: asyncio.Event, lateness: list[float]) -> None:
    """Wakes every millisecond and notes how late it woke (how long the loop was blocked)."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.001)
        lateness.append(time.perf_counter() - t - 0.001)


async def sustained(store: ProvStore) -> tuple[float, float, float]:
    """(records/s, process CPU us per record, worst event-loop stall in ms) for N_SUSTAINED records."""
    first, later = _sample_bodies()
    [call] = later["elements"]  # the recorder declared the client and principal in `first`
    associated, delegated = later["relations"]
    stop, lateness = asyncio.Event(), []
    ticker = asyncio.create_task(_ticker(stop, lateness))
    t0, c0 = time.perf_counter(), time.process_time()
    async with ProvWriter(store, flush_interval=0.2) as writer:
        append = writer.append
        append("gateway", "gateway_call", first)
        for i in range(1, N_SUSTAINED):
            ident = f"controlroom:call/{i:032x}"  # every record a distinct call, like the real thing
            append(
                "gateway",
                "gateway_call",
                {"elements": [{**call, "id": ident}], "relations": [{**associated, "src": ident}, delegated]},
            )
            if i % 2000 == 1999:
                await asyncio.sleep(0)  # a real producer yields to the loop
    rate = N_SUSTAINED / (time.perf_counter() - t0)
    cpu_us = (time.process_time() - c0) / N_SUSTAINED * 1e6
    stop.set()
    await ticker
    return rate, cpu_us, max(lateness) * 1000


async def paced(store: ProvStore | None, rate: int = 5000, seconds: float = 3.0) -> tuple[float, float]:
    """A gateway-like load: ``rate`` records/s in 1 ms steps for ``seconds``; returns the event
    loop's (p99, max) lateness in ms. ``store=None`` is the baseline: the same producer and
    ticker with appends going nowhere."""
    first, later = _sample_bodies()
    [call] = later["elements"]
    associated, delegated = later["relations"]
    stop, lateness = asyncio.Event(), []
    ticker = asyncio.create_task(_ticker(stop, lateness))
    writer = ProvWriter(store, flush_interval=0.2) if store is not None else None
    if writer is not None:
        await writer.start()
    append = writer.append if writer is not None else _Sink().noop
    per_step, i = rate // 1000, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(per_step):
            ident = f"controlroom:call/p{i:031x}"
            append("paced", "gateway_call", {"elements": [{**call, "id": ident}], "relations": [{**associated, "src": ident}, delegated]})
            i += 1
        await asyncio.sleep(0.001)
    stop.set()
    await ticker
    if writer is not None:
        await writer.close()
    lateness.sort()
    return lateness[int(len(lateness) * 0.99)] * 1000, lateness[-1] * 1000


async def export_time(store: ProvStore) -> float:
    rows = await store.records(stream="gateway", limit=N_EXPORT)
    assert len(rows) == N_EXPORT
    t0 = time.perf_counter()
    text = serialise(to_document(rows), "json")
    elapsed = time.perf_counter() - t0
    print(f"export: {len(rows)} records -> {len(text) / 1e6:.1f} MB PROV-JSON in {elapsed:.1f} s")
    return elapsed


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = engine_for(state_dir=Path(directory))
        store = ProvStore(engine)
        await store.create_schema()
        per_record, baseline, recorder_us = await hot_path(store)
        print(f"hot path: append {per_record:.2f} us/record, no-op call {baseline:.2f} us, "
              f"overhead {per_record - baseline:.2f} us; full Recorder.gateway_call {recorder_us:.1f} us")
        rate, cpu_us, stall_ms = await sustained(store)
        print(f"sustained: {rate:,.0f} records/s into SQLite (flush every 200 ms); "
              f"{cpu_us:.1f} us CPU per record (all threads); worst event-loop stall {stall_ms:.1f} ms")
        base_p99, base_max = await paced(None)
        p99, worst = await paced(store)
        print(f"paced 5,000 records/s for 3 s: event-loop lateness p99 {p99:.1f} ms, max {worst:.1f} ms "
              f"(same load, no writer: p99 {base_p99:.1f} ms, max {base_max:.1f} ms)")
        t0 = time.perf_counter()
        result = await store.verify()
        print(f"verify: {result.records} records ok={result.ok} in {time.perf_counter() - t0:.1f} s")
        export_s = await export_time(store)
        await engine.dispose()
    print(f"prov_capture us_per_record={per_record:.2f} records_per_s={rate:.0f} cpu_us_per_record={cpu_us:.1f} "
          f"export_100k_s={export_s:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
