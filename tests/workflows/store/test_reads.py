"""The read path: `Database.rows` (one round trip to SQLite's driver thread per statement),
rollbacks that cost nothing when no transaction is open, and SQLite timestamps read in one call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite.core
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, select
from sqlalchemy.dialects import sqlite

from workflows.store import Store, StoreError
from workflows.store.database import ReadStatement, default_url
from workflows.store.models import LogRow
from workflows.store.records import LogIn
from workflows.store.timestamps import UTCDateTime, sqlite_utc


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of every call aiosqlite hands to its connection thread (one round trip each)."""
    seen: list[str] = []
    hand_over = aiosqlite.core.Connection._execute

    async def counted(self: aiosqlite.core.Connection, fn: object, *args: object, **kwargs: object) -> object:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await hand_over(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counted)
    yield seen


async def _some_logs(store: Store, count: int = 5) -> None:
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    await store.logs.add_logs([LogIn(namespace="alice", agent="data-agent-alice-1", level=20, message=f"line {i}",
                                     created_at=start + timedelta(seconds=i, microseconds=i % 2))
                               for i in range(count)])


async def test_a_log_page_is_one_round_trip_and_a_read_session_rolls_nothing_back(
        tmp_path: Path, trips: list[str]) -> None:
    async with Store.from_url(default_url(tmp_path)) as store:  # round trips to aiosqlite's thread: SQLite only
        await _one_trip_reads(store, trips)


async def _one_trip_reads(store: Store, trips: list[str]) -> None:
    await _some_logs(store)
    first = await store.logs.list_log_lines(limit=2)  # builds and compiles the shape
    trips.clear()
    page = await store.logs.list_log_lines(limit=2)
    assert page == first and [line.message for line in page.items] == ["line 4", "line 3"]
    assert trips == ["_execute_fetchall"]  # was cursor, execute, fetchall, close, rollback, rollback
    trips.clear()
    await store.logs.get_log(page.items[0].id)  # an ORM read session
    assert "rollback" not in trips


async def test_a_failed_write_transaction_still_rolls_back(store: Store) -> None:
    theirs = MetaData()
    table = Table("rollback_probe", theirs, Column("id", Integer, primary_key=True))
    async with store.db.shared_engine().begin() as conn:
        await conn.run_sync(theirs.create_all)
    with pytest.raises(RuntimeError):
        async with store.db.shared_engine().begin() as conn:
            await conn.execute(table.insert().values(id=1))
            raise RuntimeError("abandon the transaction")
    with pytest.raises(RuntimeError):
        async with store.db.transaction() as session:
            await session.execute(table.insert().values(id=2))
            raise RuntimeError("abandon the transaction")
    async with store.db.engine.connect() as conn:
        assert (await conn.execute(select(table.c.id))).all() == []


async def test_rows_match_sqlalchemys_own_execution(store: Store) -> None:
    await _some_logs(store)
    statement = (select(LogRow.id, LogRow.message, LogRow.created_at, LogRow.execution_id)
                 .where(LogRow.namespace == bindparam("namespace", type_=LogRow.namespace.type),
                        LogRow.created_at >= bindparam("since", type_=LogRow.created_at.type))
                 .order_by(LogRow.id).limit(3))
    params = {"namespace": "alice", "since": datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC)}
    async with store.db.engine.connect() as conn:
        expected = [tuple(row) for row in (await conn.execute(statement, params)).all()]
    rows = [tuple(row) for row in await store.db.rows(ReadStatement(statement), params)]
    assert rows == expected and len(rows) == 3
    assert all(row[2].tzinfo is UTC for row in rows)
    assert rows[0][2] == datetime(2026, 11, 30, 12, 0, 1, 1, tzinfo=UTC)


async def test_a_failing_read_is_a_store_error(store: Store) -> None:
    missing = Table("no_such_table", MetaData(), Column("id", Integer))
    with pytest.raises(StoreError, match="no_such_table"):
        await store.db.rows(ReadStatement(select(missing.c.id)), {})
    await _some_logs(store, 1)
    assert len((await store.logs.list_log_lines()).items) == 1  # the pool still serves


@pytest.mark.parametrize("text", ["2026-11-30 19:40:18.123000", "2026-11-30 19:40:18", "2026-11-30T19:40:18.000001",
                                  "2026-11-30 21:40:18.5+02:00", "2026-11-30T19:40:18Z", "2026-11-30", None])
def test_sqlite_timestamps_read_as_sqlalchemys_chain_would(text: str | None) -> None:
    dialect = sqlite.dialect()
    decorator = UTCDateTime()
    parse = decorator.impl_instance.dialect_impl(dialect).result_processor(dialect, None)
    expected = decorator.process_result_value(parse(text), dialect)
    assert sqlite_utc(text) == expected
    assert decorator.dialect_impl(dialect).result_processor(dialect, None) is sqlite_utc
    if expected is not None:
        assert sqlite_utc(text).tzinfo is UTC  # type: ignore[union-attr]
