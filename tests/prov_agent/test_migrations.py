"""The provenance tables' Alembic history: from empty, idempotent, matching the model, and a
database made by the old ``create_all`` (round 1) upgrading with its records intact."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from prov_agent.migrate import BASELINE, version_table
from prov_agent.recorder import Recorder
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter
from tests.support.pgdatabase import fresh_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        created = engine_for(state_dir=tmp_path)
        yield created
        await created.dispose()
        return
    async with fresh_database(request.getfixturevalue("postgres_url")) as url:
        created = engine_for(database_url=url)
        yield created
        await created.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_upgrade_from_empty_creates_the_tables_and_records_the_revision(engine: AsyncEngine) -> None:
    store = ProvStore(engine)
    assert await store.schema_revision() is None
    await store.create_schema()
    assert {"prov_records", "prov_mentions", "prov_alembic_version"} <= await _tables(engine)
    assert await store.schema_revision() == BASELINE
    await store.create_schema()  # a second start: nothing to do, nothing fails
    assert await store.schema_revision() == BASELINE


async def test_the_migrations_match_the_store_tables(engine: AsyncEngine) -> None:
    store = ProvStore(engine, table_prefix="prov_x_")
    await store.create_schema()

    def diff(conn: object) -> list[object]:
        context = MigrationContext.configure(conn, opts={"version_table": version_table("prov_x_")})  # type: ignore[arg-type]
        return [d for d in compare_metadata(context, store.metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == version_table("prov_x_"))]

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert "prov_records" not in await _tables(engine)  # the prefix names every table, the version table too


async def test_a_create_all_database_is_stamped_and_keeps_its_chain(engine: AsyncEngine) -> None:
    old = ProvStore(engine)
    async with engine.begin() as conn:  # what round 1 did at every start
        await conn.run_sync(old.metadata.create_all)
    async with ProvWriter(old, flush_interval=0.05) as writer:
        rec = Recorder(writer, stream="gateway")
        for n in range(3):
            rec.gateway_call("alice", "claude-code", "1", "list_runs", {"n": n}, "node-1", "namespace", "ok", 0.001)
    assert await old.schema_revision() is None

    store = ProvStore(engine)
    await store.create_schema()  # must not try to create the existing tables
    assert await store.schema_revision() == BASELINE
    verified = await store.verify()
    assert verified.ok and verified.records == 3
    async with ProvWriter(store, flush_interval=0.05) as writer:  # the chain continues after the upgrade
        Recorder(writer, stream="gateway").gateway_call("alice", "claude-code", "1", "list_runs", {}, "node-1",
                                                        "namespace", "ok", 0.001)
    assert (await store.verify()).records == 4

    async with engine.begin() as conn:  # and the upgraded store still names an edited record
        await conn.execute(update(store.records_table).where(store.records_table.c.seq == 2)
                           .values(body=text("replace(body, 'alice', 'mallory')")))
    verified = await store.verify()
    assert not verified.ok and [p.seq for p in verified.problems] == [2]


async def test_the_cli_engine_opens_a_file_another_writer_is_creating(tmp_path: Path) -> None:
    # A writer holds the lock of the file before it is in WAL: SQLite refuses the WAL pragma at
    # once; the CLI's connection reads on (WAL is the file's, set by the writer that creates it).
    other = sqlite3.connect(tmp_path / "controlroom.db", isolation_level=None)
    other.execute("CREATE TABLE elsewhere (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO elsewhere VALUES (1)")
    engine = engine_for(state_dir=tmp_path)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM elsewhere"))).scalar_one() == 0
        other.execute("COMMIT")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM elsewhere"))).scalar_one() == 1
    finally:
        await engine.dispose()
        other.close()
