"""The gateway tables' Alembic history: from empty, matching the tables, and a round-1 database
(made by ``create_all``, no version row) upgrading with its nodes and tokens intact."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Boolean, Column, DateTime, Float, MetaData, String, Table, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_gateway.auth import Authenticator, token_digest
from mcp_gateway.migrate import HEAD, VERSION_TABLE
from mcp_gateway.registry import Registry
from mcp_gateway.registry_store import RegistryStore, metadata
from mcp_nodes.contract.registration import NodeInfo
from tests.support.pgdatabase import fresh_database
from workflows.store.database import Database

# The two tables exactly as round 1 created them at every start (metadata.create_all).
ROUND_ONE = MetaData()
Table("gateway_nodes", ROUND_ONE, Column("name", String(64), primary_key=True), Column("info", JSON, nullable=False),
      Column("health", String(8), nullable=False), Column("load", Float, nullable=False, default=0.0),
      Column("last_heartbeat", DateTime(timezone=True)), Column("down_since", DateTime(timezone=True)))
Table("gateway_tokens", ROUND_ONE, Column("token_sha256", String(64), primary_key=True),
      Column("principal", JSON, nullable=False), Column("created_at", DateTime(timezone=True), nullable=False),
      Column("revoked", Boolean, nullable=False, default=False))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The database port's shared engine on an empty database (SQLite file or new PostgreSQL database)."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        else:
            url = await stack.enter_async_context(fresh_database(request.getfixturevalue("postgres_url")))
        database = await Database(url).open(upgrade=False)  # the gateway opens it so: no store tables
        stack.push_async_callback(database.close)
        yield database.shared_engine()


async def test_upgrade_from_empty_reaches_head_and_matches_the_tables(engine: AsyncEngine) -> None:
    store = RegistryStore(engine)
    assert await store.schema_revision() is None
    await store.upgrade()
    await store.upgrade()  # every start upgrades: the second is a no-op
    assert await store.schema_revision() == HEAD

    def diff(conn: object) -> list[object]:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})  # type: ignore[arg-type]
        return [d for d in compare_metadata(context, metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == VERSION_TABLE)]

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_a_round_one_database_upgrades_with_its_nodes_and_tokens(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(ROUND_ONE.create_all)
    token = "crt_round-one-token"  # round 1's rows, written into round 1's tables
    info = NodeInfo(name="n1", url="http://127.0.0.1:1/mcp", namespaces=["a"], tools=[])
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(ROUND_ONE.tables["gateway_tokens"].insert().values(
            token_sha256=token_digest(token), principal={"user": "alice", "namespaces": ["a"], "scopes": ["read"]},
            created_at=now, revoked=False))
        await conn.execute(ROUND_ONE.tables["gateway_nodes"].insert().values(
            name="n1", info=info.model_dump(mode="json"), health="up", load=0.0, last_heartbeat=now))

    store = RegistryStore(engine)
    await store.upgrade()  # stamps the baseline instead of creating the tables again, then migrates
    assert await store.schema_revision() == HEAD
    async with engine.connect() as conn:
        assert "gateway_public_keys" in await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert (await Authenticator(store).principal(f"Bearer {token}")).user == "alice"
    registry = Registry(store, lease_s=10, heartbeat_s=3)
    await registry.load()
    assert registry.nodes["n1"].info.url == "http://127.0.0.1:1/mcp" and registry.by_namespace == {"a": ["n1"]}
    assert await registry.refresh() is False  # a row without an info digest is not re-read as a change


@pytest.mark.postgres
async def test_three_histories_share_one_database(postgres_url: str) -> None:
    """The store, the gateway and provenance migrate one PostgreSQL database side by side, each in
    its own version table, in any order, and a second round changes nothing."""
    from prov_agent.store import ProvStore
    from workflows.store.models import VERSION_TABLE as STORE_VERSION_TABLE

    async with fresh_database(postgres_url) as url:
        for _ in range(2):
            gateway_db = await Database(url).open(upgrade=False)
            try:
                await RegistryStore(gateway_db.shared_engine()).upgrade()
                await ProvStore(gateway_db.shared_engine()).create_schema()
            finally:
                await gateway_db.close()
            store_db = await Database(url).open()  # the node's store: upgrade=True
            try:
                async with store_db.engine.connect() as conn:
                    tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
                    versions = {table: (await conn.exec_driver_sql(f"SELECT version_num FROM {table}")).scalars().all()
                                for table in (STORE_VERSION_TABLE, VERSION_TABLE, "prov_alembic_version")}
                assert await store_db.current_revision() == versions[STORE_VERSION_TABLE][0]
            finally:
                await store_db.close()
            assert versions[VERSION_TABLE] == [HEAD] and versions["prov_alembic_version"] == ["prov_0002"]
            assert {"gateway_nodes", "gateway_public_keys", "prov_records", "app_logs"} <= tables


async def test_histories_upgrading_together_in_one_process_take_turns(tmp_path: Path) -> None:
    """Two replicas' gateway and provenance histories, opened at once in one process (as a test or
    an embedding does): Alembic's module-global context must not be shared mid-run. Without the
    turn, one of the runs fails with KeyError 'config' inside alembic (seen as
    test_replicas_starting_together_upgrade_once failing under load)."""
    from prov_agent.store import ProvStore

    databases = [await Database(f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}").open(upgrade=False)
                 for name in ("a", "b", "c")]
    try:
        a, b, c = databases  # one file per history: only Alembic itself is shared
        await asyncio.gather(RegistryStore(a.shared_engine()).upgrade(), RegistryStore(b.shared_engine()).upgrade(),
                             ProvStore(c.shared_engine()).create_schema(), ProvStore(a.shared_engine(), "prov_other_").create_schema(),
                             c.upgrade())
        for database in (a, b):
            async with database.shared_engine().connect() as conn:
                assert await conn.run_sync(lambda sync: MigrationContext.configure(
                    sync, opts={"version_table": VERSION_TABLE}).get_current_revision()) == HEAD
    finally:
        for database in databases:
            await database.close()
