"""The provenance tables' Alembic history, run from code on a caller's connection.

The scripts live in ``prov_agent/migrations`` (shipped in the wheel); the version table is
``<prefix>alembic_version`` (``prov_alembic_version`` by default), so this history sits beside
other packages' histories on one database and this package needs nothing of theirs.

A database whose tables were made by ``create_all`` (before there were migrations) has the
tables and no version row: it is stamped at the baseline, then upgraded like any other. On
PostgreSQL the upgrade holds a transaction-level advisory lock, so replicas starting together
upgrade one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import alembic
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).parent / "migrations"
BASELINE = "prov_0001"
HEAD = "prov_0002"  # the newest revision in migrations/versions
_LOCK_KEY = zlib.crc32(b"prov_agent.migrate")


@contextlib.asynccontextmanager
async def alembic_turn() -> AsyncIterator[None]:
    """Hold the process's one Alembic turn for the block (await it around every upgrade).

    Alembic installs the running migration's context as a module-global proxy
    (``alembic.context``) for the length of each run, so two runs interleaving in one process
    (two gateway replicas, or the gateway's and provenance's histories, opened together) pull
    each other's context away mid-run (``KeyError: 'config'``). The lock lives on the alembic
    module so that every package running Alembic here shares it without importing each other
    (``workflows.store.migrate`` and ``prov_agent.migrate`` each have this function). It is
    polled, not awaited, so a waiting coroutine never blocks the event loop and a thread never
    waits on a coroutine.
    """
    lock: threading.Lock = vars(alembic).setdefault("_controlroom_run_lock", threading.Lock())
    while not lock.acquire(blocking=False):
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        lock.release()


def version_table(prefix: str) -> str:
    """The Alembic version table of the tables with this prefix."""
    return f"{prefix}alembic_version"


def _config(connection: Connection, prefix: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    config.attributes["table_prefix"] = prefix
    return config


def current_revision(connection: Connection, prefix: str) -> str | None:
    """The revision recorded for the tables with ``prefix`` (None: never migrated)."""
    context = MigrationContext.configure(connection, opts={"version_table": version_table(prefix)})
    return context.get_current_revision()


def upgrade_schema(connection: Connection, prefix: str, revision: str = "head") -> None:
    """Bring the tables with ``prefix`` to ``revision`` inside the connection's transaction
    (stamping a pre-migration database at the baseline first)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    config = _config(connection, prefix)
    if current_revision(connection, prefix) is None and inspect(connection).has_table(f"{prefix}records"):
        command.stamp(config, BASELINE)
    command.upgrade(config, revision)
