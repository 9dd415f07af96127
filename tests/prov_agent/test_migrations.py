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

from prov_agent.export import stream_export
from prov_agent.migrate import BASELINE, HEAD, upgrade_schema, version_table
from prov_agent.queries import Scope
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
    assert await store.schema_revision() == HEAD
    await store.create_schema()  # a second start: nothing to do, nothing fails
    assert await store.schema_revision() == HEAD


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
    await store.create_schema()  # must not try to create the existing tables (nor their indexes)
    assert await store.schema_revision() == HEAD
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


async def test_a_prov_0001_database_upgrades_with_its_records_and_reads_a_stream_in_order(engine: AsyncEngine) -> None:
    """prov_0002 adds the (stream, time, seq) index to a database made at prov_0001: its records
    read back and verify as before, the chain goes on, and (SQLite) a stream is read in export
    order through the index instead of sorting every row."""
    old = ProvStore(engine)
    async with engine.begin() as conn:
        await conn.run_sync(upgrade_schema, old.table_prefix, BASELINE)
    assert await old.schema_revision() == BASELINE
    async with ProvWriter(old, flush_interval=0.05) as writer:
        rec = Recorder(writer, stream="gateway")
        for n in range(20):
            rec.gateway_call("alice", "claude-code", "1", "list_runs", {"n": n}, "node-1", "namespace", "ok", 0.001)
        Recorder(writer, stream="other").gateway_call("bob", "c", "1", "get_run", {}, "node-1", "namespace", "ok", 0.001)
    before: list[str] = []
    await stream_export(old, Scope.parse("stream:gateway"), "json", before.append)

    store = ProvStore(engine)
    await store.create_schema()
    assert await store.schema_revision() == HEAD
    async with engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: {i["name"]: i["column_names"] for i in inspect(c).get_indexes("prov_records")})
    assert indexes["prov_records_stream_time"] == ["stream", "time", "seq"]
    verified = await store.verify()
    assert verified.ok and verified.records == 21
    after: list[str] = []
    assert await stream_export(store, Scope.parse("stream:gateway"), "json", after.append) == 20
    assert "".join(after) == "".join(before)
    async with ProvWriter(store, flush_interval=0.05) as writer:  # the chain continues after the upgrade
        Recorder(writer, stream="gateway").gateway_call("alice", "claude-code", "1", "list_runs", {}, "node-1",
                                                        "namespace", "ok", 0.001)
    verified = await store.verify()
    assert verified.ok and verified.records == 22
    if engine.dialect.name == "sqlite":
        async with engine.connect() as conn:
            plan = (await conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT body FROM prov_records WHERE stream = ? AND time < ? "
                "ORDER BY time, stream, seq", ("gateway", "9999"))).all()
        details = " ".join(str(row[-1]) for row in plan)
        assert "prov_records_stream_time" in details and "TEMP B-TREE" not in details


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
