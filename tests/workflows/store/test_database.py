"""The database port: schema upgrade (from empty, idempotent), engine sharing, error translation."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, inspect, select, text

from tests.workflows.store.conftest import Backend
from workflows.store import Database, Store, StoreError, StoreUnavailable
from workflows.store.database import default_url
from workflows.store.models import VERSION_TABLE, Base


async def test_upgrade_from_empty_creates_every_table_and_records_head(backend: Backend) -> None:
    db = Database(backend.url, schema=backend.schema)
    await db.open(upgrade=False)
    try:
        assert await db.current_revision() is None
        await db.upgrade()
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert set(Base.metadata.tables) | {VERSION_TABLE} <= tables
        assert await db.current_revision() == "0002"
    finally:
        await db.close()


async def test_reupgrade_is_idempotent_and_keeps_rows(backend: Backend) -> None:
    async with backend.store() as store:
        await store.namespaces.ensure("alice")
    async with backend.store() as store:  # upgrade at open, a second time
        await store.db.upgrade()
        assert (await store.namespaces.get("alice")).name == "alice"
        assert await store.db.current_revision() == "0002"


async def test_migration_matches_the_models(store: Store) -> None:
    def diff(conn: object) -> list[object]:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE,  # type: ignore[arg-type]
                                                          "compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == VERSION_TABLE)]

    async with store.db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_other_packages_keep_their_tables_on_the_same_engine(store: Store) -> None:
    theirs = MetaData()
    table = Table("someone_elses", theirs, Column("id", Integer, primary_key=True))
    async with store.db.engine.begin() as conn:
        await conn.run_sync(theirs.create_all)
        await conn.execute(table.insert().values(id=7))
    async with store.db.engine.connect() as conn:
        assert (await conn.execute(select(table.c.id))).scalar_one() == 7
    await store.db.upgrade()  # our migrations leave foreign tables alone
    async with store.db.engine.connect() as conn:
        assert (await conn.execute(select(table.c.id))).scalar_one() == 7


async def test_sqlite_creates_the_directory_and_sets_its_pragmas(tmp_path: Path) -> None:
    url = default_url(tmp_path / "deep" / "state")
    assert url.startswith("sqlite+aiosqlite:///") and url.endswith("/deep/state/controlroom.db")
    async with Database(url) as db:
        async with db.session() as session:
            pragmas = [(await session.execute(text(f"PRAGMA {name}"))).scalar()
                       for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")]
    assert pragmas == ["wal", 1, 1, 30000]
    assert (tmp_path / "deep" / "state" / "controlroom.db").exists()


async def test_sqlite_opens_while_another_process_holds_the_new_files_lock(tmp_path: Path) -> None:
    # Another process writing to the new file before it is in WAL: SQLite refuses the WAL pragma
    # at once ("database is locked", no busy wait). The open waits for the lock instead.
    path = tmp_path / "controlroom.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE elsewhere (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO elsewhere VALUES (1)")
    asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
    try:
        async with Store.from_url(f"sqlite+aiosqlite:///{path}") as store:
            await store.namespaces.ensure("alice")
            assert (await store.db.current_revision()) == "0002"
    finally:
        other.close()
    with closing(sqlite3.connect(path)) as later:
        assert later.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert later.execute("SELECT x FROM elsewhere").fetchall() == [(1,)]  # its write kept


async def test_unreachable_postgres_is_store_unavailable() -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    with pytest.raises(StoreUnavailable, match="127.0.0.1:1"):
        await db.open()
    assert not db.is_open


async def test_bad_urls_and_closed_databases_are_named() -> None:
    with pytest.raises(StoreError, match="url: unsupported database 'mysql'"):
        Database("mysql+aiomysql://x@localhost/db")
    with pytest.raises(StoreError, match="schema: only PostgreSQL"):
        Database("sqlite+aiosqlite:///x.db", schema="s")
    with pytest.raises(StoreError, match="not open"):
        Database("sqlite+aiosqlite:///x.db").engine  # noqa: B018
