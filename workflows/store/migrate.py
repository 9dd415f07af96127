"""Alembic, run from code: a Config built here, scripts inside the package, own version table.

The store's version table is ``controlroom_store_version``, so other packages can keep their
own Alembic histories on the same database. On PostgreSQL the upgrade holds a transaction-level
advisory lock, so two processes upgrading at once run one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import alembic
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from workflows.store.models import VERSION_TABLE

SCRIPT_LOCATION = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_KEY = 0x636F6E74726F6C  # "control", any constant shared by all our processes


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


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the store's scripts; ``connection`` is used by ``env.py``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def run_upgrade(connection: Connection, revision: str, dialect: str) -> None:
    """Upgrade on ``connection`` (inside its transaction) to ``revision``."""
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    command.upgrade(alembic_config(connection), revision)


def read_revision(connection: Connection) -> str | None:
    """The revision recorded in the store's version table, None when it has none."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
