"""The buffered writer: clean shutdown keeps everything, SIGKILL loses at most a flush interval."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from prov_agent.errors import InvalidProvInput, StoreError, WriterClosed
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter

CHILD = Path(__file__).with_name("crash_child.py")


async def test_close_flushes_everything_and_refuses_more(sqlite_store: ProvStore) -> None:
    writer = ProvWriter(sqlite_store, flush_interval=60)  # the timer never fires: close must flush
    await writer.start()
    for i in range(1234):
        writer.append(f"s{i % 3}", "note", {"elements": [], "relations": [], "event": str(i)})
    await writer.close()
    assert await sqlite_store.count() == 1234
    assert (await sqlite_store.verify()).ok
    with pytest.raises(WriterClosed):
        writer.append("s0", "note", {})


@pytest.mark.parametrize("calls", [1, 7, 1001, 2667, 5003])
async def test_every_row_and_mention_of_a_flush_is_stored_once(any_store: ProvStore, calls: int) -> None:
    """Rows go to the store as flat values in multi-row statements (SQLite: 1,000 records or 2,666
    mentions each, the rest in statements of a power of two rows): every size lands, once."""
    from sqlalchemy import func, select

    from prov_agent.recorder import Recorder

    async with ProvWriter(any_store, flush_interval=60) as writer:
        rec = Recorder(writer, stream="gateway")
        made = [rec.gateway_call("alice", "claude-code", "1", "list_runs", {"n": n}, "node-1", "ns", "ok", 0.001)
                for n in range(calls)]
    assert await any_store.count() == calls
    m = any_store.mentions_table
    async with any_store.engine.connect() as conn:
        mentions = (await conn.execute(select(m.c.element_id, func.count()).group_by(m.c.element_id))).all()
    counts = dict(mentions)
    assert counts.pop("controlroom:agent/claude-code") == calls and counts.pop("controlroom:person/alice") == calls
    assert counts == dict.fromkeys(made, 1)
    assert await any_store.mentioning([made[-1]]) and (await any_store.verify()).records == calls


async def test_periodic_flush_writes_without_close(sqlite_store: ProvStore) -> None:
    async with ProvWriter(sqlite_store, flush_interval=0.02) as writer:
        writer.append("s", "note", {"elements": [], "relations": []})
        for _ in range(500):
            if writer.flushed:
                break
            await asyncio.sleep(0.01)
        assert writer.flushed == 1
        assert await sqlite_store.count() == 1


async def test_a_failing_database_keeps_the_records_until_it_works(tmp_path: Path) -> None:
    engine = engine_for(state_dir=tmp_path)
    store = ProvStore(engine)  # tables not created yet: every insert fails
    writer = ProvWriter(store, flush_interval=60)
    writer.append("s", "note", {"elements": [], "relations": [], "event": "first"})
    with pytest.raises(StoreError):
        await writer.flush()
    writer.append("s", "note", {"elements": [], "relations": [], "event": "second"})
    assert writer.pending == 2
    await store.create_schema()
    assert await writer.flush() == 2
    events = [json.loads(r.body)["event"] for r in await store.records(stream="s")]
    assert events == ["first", "second"]
    assert (await store.verify()).ok
    await writer.close()
    await engine.dispose()


async def test_unserialisable_body_is_kept_as_a_note_not_dropped(sqlite_store: ProvStore) -> None:
    async with ProvWriter(sqlite_store, 60) as writer:
        writer.append("s", "note", {"elements": [], "relations": [], "bad": object()})
        writer.append("s", "note", {"elements": [], "relations": []})
    rows = await sqlite_store.records(stream="s")
    assert [r.seq for r in rows] == [1, 2]
    assert "unserialisable" in json.loads(rows[0].body)
    assert (await sqlite_store.verify()).ok


def test_flush_interval_must_be_positive(sqlite_store: ProvStore) -> None:
    with pytest.raises(InvalidProvInput, match="flush_interval"):
        ProvWriter(sqlite_store, flush_interval=0)


async def test_sigkill_loses_nothing_a_flush_committed(tmp_path: Path) -> None:
    interval = 0.1
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(tmp_path), str(interval)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        flushes, committed = 0, 0
        assert child.stdout is not None
        while flushes < 5:  # mid-burst: the child is still appending when it dies
            line = child.stdout.readline()
            assert line, "the child exited before flushing"
            if line.startswith("flushed"):
                flushes += 1
                committed = int(line.split()[1])  # records the writer reported committed
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    engine = engine_for(state_dir=tmp_path)
    store = ProvStore(engine)
    try:
        result = await store.verify()
        assert result.ok, result.problems
        rows = await store.records(stream="burst")
        events = [json.loads(r.body)["event"].split() for r in sorted(rows, key=lambda r: r.seq)]
        indices = [int(i) for i, _ in events]
        assert indices == list(range(len(indices)))  # a contiguous prefix: nothing in the middle lost
        # every record a flush reported committed before the kill survived it (the kill may lose
        # only the unflushed tail; no wall-clock bound here: timings belong in bench/)
        assert committed > 0 and len(indices) >= committed, (len(indices), committed)
    finally:
        await engine.dispose()
