"""The group-commit writer (workflows/store/writer.py), on SQLite and PostgreSQL: concurrent writes
share one transaction and each caller gets its own result; a faulty write fails alone; a write
whose caller was cancelled before its flush is not applied; a returned write is durable."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from workflows.store import Store
from workflows.store.errors import NotFound, StoreError
from workflows.store.records import SliceIn, SliceMark
from tests.workflows.store.conftest import Backend


def _slices(tf: str, count: int) -> list[SliceIn]:
    return [SliceIn(namespace="ns", execution_id="e1", run_number=1, tf_filename=tf, slice_id=i,
                    start=i, end=i, tf_count=1) for i in range(count)]


async def test_concurrent_writes_share_one_transaction_and_each_gets_its_result(store: Store) -> None:
    writer = store.db.writer
    before = writer.flushes
    stfs, samples, slices, beat = await asyncio.gather(
        asyncio.gather(*(store.runs.add_stf(f"f{i}.stf", "ns", "e1", 1, i, status="ready") for i in range(20))),
        asyncio.gather(*(store.runs.add_tf_sample(f"f{i}.tf", f"f{i}.stf", "ns", "e1", 1, 0, 9, 10)
                         for i in range(5))),
        asyncio.gather(store.runs.add_slices(_slices("f0.tf", 15)), store.runs.add_slices(_slices("f0.tf", 3)),
                       store.runs.add_slices(_slices("f1.tf", 4))),
        store.agents.upsert_agent("data-agent-ns-1", "ns", "data", "READY", pid=7),
    )
    assert writer.flushes - before == 1  # 29 calls, one transaction
    assert [r.filename for r in stfs] == [f"f{i}.stf" for i in range(20)]
    assert [r.sequence for r in stfs] == list(range(20))
    assert [r.tf_filename for r in samples] == [f"f{i}.tf" for i in range(5)]
    assert slices == [15, 0, 4]  # the second call's 3 slices were already queued by the first
    assert beat.pid == 7 and beat.status == "READY"

    applied = await asyncio.gather(
        store.runs.mark_slices([SliceMark(tf_filename="f0.tf", slice_id=0, status="done", worker="w1")],
                               {"results:e1": 1}),
        store.runs.mark_slices([SliceMark(tf_filename="f0.tf", slice_id=1, status="done", worker="w2"),
                                SliceMark(tf_filename="nope.tf", slice_id=0, status="done")], {"results:e1": 2}),
    )
    assert applied == [1, 1]
    assert await store.counters.current("results:e1") == 3
    assert (await store.runs.get_slice("f0.tf", 1)).assigned_worker == "w2"


async def test_a_faulty_write_fails_alone(store: Store) -> None:
    await store.runs.add_stf("a.stf", "ns", "e1", 1, 1)
    good, missing, broken, other = await asyncio.gather(
        store.runs.set_stf_status("a.stf", "processed"),
        store.runs.set_stf_status("missing.stf", "processed"),
        store.runs.add_stf("bad.stf", None, "e1", 1, 2),  # type: ignore[arg-type] - NOT NULL refuses it
        store.runs.add_stf("b.stf", "ns", "e1", 1, 3),
        return_exceptions=True,
    )
    assert not isinstance(good, BaseException) and good.status == "processed"
    assert isinstance(missing, NotFound)  # one item of a batch: the others of its kind still apply
    assert isinstance(broken, StoreError) and not isinstance(broken, NotFound)  # the flush was retried alone
    assert not isinstance(other, BaseException) and other.filename == "b.stf"
    assert (await store.runs.get_stf("b.stf")).sequence == 3
    with pytest.raises(NotFound):
        await store.runs.get_stf("bad.stf")


async def test_a_write_cancelled_before_its_flush_is_not_applied(store: Store) -> None:
    task = asyncio.create_task(store.runs.add_stf("cancelled.stf", "ns", "e1", 1, 1))
    await asyncio.sleep(0)  # the call is queued; the writer has not taken it yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.runs.add_stf("after.stf", "ns", "e1", 1, 2)  # the writer runs on
    with pytest.raises(NotFound):
        await store.runs.get_stf("cancelled.stf")


async def test_a_returned_write_is_visible_to_another_connection(backend: Backend, store: Store) -> None:
    await store.runs.add_slices(_slices("d.tf", 2))
    await store.runs.mark_slices([SliceMark(tf_filename="d.tf", slice_id=0, status="done", worker="w")])
    async with backend.store() as other:
        assert (await other.runs.get_slice("d.tf", 0)).status == "done"
        assert (await other.runs.slice_counts("e1"))["queued"] == 1


async def test_execute_rows_stores_what_an_ordinary_executemany_stores(store: Store) -> None:
    """The planned executemany (writer.execute_rows) and SQLAlchemy's own give the same stored rows,
    byte for byte in the database: times, JSON, NULLs and the values written into the statement."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import text

    from workflows.store.slices import _insert_statement, _mark_statement
    from workflows.store.writer import execute_rows

    t0 = datetime(2026, 5, 1, 12, 0, 0, 1, tzinfo=UTC)
    timezone_east = t0.astimezone(timezone(timedelta(hours=5)))  # converted to UTC on the way in
    rows = {tf: [{"namespace": "ns", "execution_id": "e1", "run_number": 1, "tf_filename": tf, "slice_id": i,
                  "start": i, "end": i, "tf_count": 1, "status": "queued", "retries": 0,
                  "requested_at": timezone_east + timedelta(seconds=i)} for i in range(3)]
            for tf in ("planned.tf", "ordinary.tf")}
    marks = {tf: [{"b_tf": tf, "b_slice": i, "b_at": t0 + timedelta(seconds=10 + i), "b_started": None if i else t0,
                   "b_worker": "w1", "b_error": None,
                   "b_result": {"events": i, "ok": True, "rate": 0.1 + i, "name": "caf\u00e9 \"q\"", "none": None,
                                "nested": {"list": [1, 2.5, None, "x"]}}} for i in range(2)]
             for tf in rows}
    queued = {tf: [{"b_tf": tf, "b_slice": 1, "b_at": t0, "b_started": None, "b_worker": None, "b_error": "again",
                    "b_result": None}] for tf in rows}

    def write(conn, items):  # noqa: ANN001, ANN202 - a batch function
        dialect = conn.dialect.name
        done, requeue = _mark_statement("done", True, False, True, False), _mark_statement("queued", False, True,
                                                                                             False, False)
        counts = [execute_rows(conn, _insert_statement(dialect), rows["planned.tf"]),
                  conn.execute(_insert_statement(dialect), rows["ordinary.tf"]).rowcount,
                  execute_rows(conn, done, marks["planned.tf"]),
                  conn.execute(done, marks["ordinary.tf"]).rowcount,
                  execute_rows(conn, requeue, queued["planned.tf"]),
                  conn.execute(requeue, queued["ordinary.tf"]).rowcount]
        return [counts for _ in items]

    counts = await store.db.writer.submit(write, None)
    if store.db.dialect == "sqlite":
        assert counts == [3, 3, 2, 2, 1, 1]
    columns = ("slice_id, start, \"end\", tf_count, status, retries, assigned_worker, error, "
               "CAST(requested_at AS TEXT), CAST(processing_start_at AS TEXT), CAST(processed_at AS TEXT), "
               "CAST(result AS TEXT)")
    async with store.db.engine.connect() as conn:
        stored = {tf: (await conn.execute(text(f"SELECT {columns} FROM tf_slices WHERE tf_filename = :tf "
                                               "ORDER BY slice_id"), {"tf": tf})).all() for tf in rows}
    assert stored["planned.tf"] == stored["ordinary.tf"]
    assert [r[5] for r in stored["planned.tf"]] == [0, 1, 0]  # done -> queued counted a retry
    assert [r[4] for r in stored["planned.tf"]] == ["done", "queued", "queued"]
    assert stored["planned.tf"][0][11] is not None and stored["planned.tf"][2][11] is None


@pytest.mark.postgres
async def test_back_to_back_flushes_on_postgresql_check_out_one_connection_and_give_it_back(postgres_url: str) -> None:
    """Each checkout from PostgreSQL's pool pings the server (a round trip before BEGIN); a writer
    with more writes queued keeps the connection it just committed on, and returns it when idle.
    (SQLite's flushes run in its write thread on its one connection.)"""
    backend = Backend(postgres_url, f"store_{secrets.token_hex(6)}")
    await backend.create()
    try:
        async with backend.store() as store:
            await _back_to_back(store)
    finally:
        await backend.drop()


async def _back_to_back(store: Store) -> None:
    from sqlalchemy import event

    engine = store.db.engine.sync_engine
    checkouts: list[object] = []

    def count(*_args: object) -> None:
        checkouts.append(None)

    event.listen(engine.pool, "checkout", count)
    writer = store.db.writer
    try:
        await writer.drain()
        flushes = writer.flushes
        first = asyncio.ensure_future(store.runs.add_stf("held-0.stf", "ns", "e1", 1, 0))
        while writer.flushes == flushes and not writer._queue and not (writer._task and not writer._task.done()):
            await asyncio.sleep(0)
        await asyncio.sleep(0)  # the first flush is under way: these two queue behind it
        rest = [asyncio.ensure_future(store.runs.add_stf(f"held-{i}.stf", "ns", "e1", 1, i)) for i in (1, 2)]
        stored = await asyncio.gather(first, *rest)
        await writer.drain()
    finally:
        event.remove(engine.pool, "checkout", count)
    assert [r.filename for r in stored] == ["held-0.stf", "held-1.stf", "held-2.stf"]
    assert writer.flushes - flushes == 2  # the first write alone, then the two queued meanwhile
    assert len(checkouts) == 1  # was one per flush
    assert engine.pool.checkedout() == 0  # idle: the connection is back in the pool


@pytest.mark.postgres
async def test_status_changes_on_postgresql_come_back_from_the_update_itself(postgres_url: str) -> None:
    """set_stf_status on PostgreSQL: one UPDATE over arrays that returns the rows (no SELECT after
    it); a missing file is NotFound to its caller alone; the same file twice in a flush still ends
    with the later change (that group takes the row-by-row path and the read-back)."""
    from sqlalchemy import event

    backend = Backend(postgres_url, f"store_{secrets.token_hex(6)}")
    await backend.create()
    try:
        async with backend.store() as store:
            for i in range(3):
                await store.runs.add_stf(f"s{i}.stf", "ns", "e1", 1, i)
            statements: list[str] = []

            def seen(_conn, _cursor, statement, *_rest) -> None:  # noqa: ANN001
                statements.append(statement.split(None, 1)[0].upper())

            engine = store.db.engine.sync_engine
            event.listen(engine, "before_cursor_execute", seen)
            try:
                done, sized, missing = await asyncio.gather(
                    store.runs.set_stf_status("s0.stf", "processed"),
                    store.runs.set_stf_status("s1.stf", "ready", size_bytes=64, checksum="ad:2"),
                    store.runs.set_stf_status("gone.stf", "processed"), return_exceptions=True)
                one_flush = list(statements)
                statements.clear()
                first, later = await asyncio.gather(store.runs.set_stf_status("s2.stf", "ready"),
                                                    store.runs.set_stf_status("s2.stf", "failed"))
            finally:
                event.remove(engine, "before_cursor_execute", seen)
            assert one_flush == ["UPDATE", "UPDATE", "UPDATE"]  # one per run of a shape, no SELECT after them
            assert done.status == "processed" and done.size_bytes is None
            assert (sized.status, sized.size_bytes, sized.checksum) == ("ready", 64, "ad:2")
            assert sized.updated_at > sized.created_at
            assert isinstance(missing, NotFound)
            assert first.status == later.status == "failed"  # the stored row after the flush
            assert (await store.runs.get_stf("s2.stf")).status == "failed"
    finally:
        await backend.drop()
