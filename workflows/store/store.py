"""The ``Store`` facade: one Database and its repositories, as others use them.

Every process opens its store with :func:`open_store` (the one place a database URL becomes an
open store: the node, an agent child process, the CLI).

Example::

    async with open_store(default_url(state_dir)) as store:
        record = await store.executions.create("stf_datataking", "alice", "alice", config, ...)
        page = await store.logs.list_logs(namespace="alice", min_level="WARNING")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from workflows.store.agents import Agents
from workflows.store.counters import Counters
from workflows.store.database import Database, default_url
from workflows.store.definitions import Definitions
from workflows.store.events import Events
from workflows.store.executions import Executions
from workflows.store.logs import Logs
from workflows.store.namespaces import Namespaces
from workflows.store.pruning import prune
from workflows.store.records import PruneReport
from workflows.store.runs import Runs
from workflows.store.statistics import Statistics


class Store:
    """The testbed store: repositories over one :class:`Database`.

    ``store.executions``, ``store.runs``, ``store.events``, ``store.logs``, ``store.agents``,
    ``store.namespaces``, ``store.definitions``, ``store.counters``, ``store.statistics``; ``store.prune(cutoff)``.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.counters = Counters(db)
        self.definitions = Definitions(db)
        self.executions = Executions(db)
        self.runs = Runs(db)
        self.events = Events(db)
        self.logs = Logs(db)
        self.agents = Agents(db)
        self.namespaces = Namespaces(db)
        self.statistics = Statistics(db)

    @classmethod
    def from_url(cls, url: str, schema: str | None = None) -> Store:
        """A store over ``url`` (not yet open)."""
        return cls(Database(url, schema=schema))

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Store:
        """The default store: SQLite under ``state_dir`` (not yet open)."""
        return cls(Database(default_url(state_dir)))

    async def open(self, upgrade: bool = True) -> Store:
        """Open the database (bringing the schema to head when ``upgrade``)."""
        await self.db.open(upgrade=upgrade)
        return self

    async def close(self) -> None:
        """Close the database."""
        await self.db.close()

    async def __aenter__(self) -> Store:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def prune(self, older_than: datetime) -> PruneReport:
        """Delete messages, logs, state events and finished executions (with their runs, files,
        samples, slices, workers, run states) older than ``older_than``."""
        return await prune(self.db, older_than)


@asynccontextmanager
async def open_store(url: str, *, schema: str | None = None, upgrade: bool = True) -> AsyncIterator[Store]:
    """The store at database ``url``, open for the block and closed after it.

    ``upgrade`` brings the schema to head first (the node does; an agent child process, which
    runs beside a node that already did, passes False). ``schema`` is a PostgreSQL schema that
    must exist (see :class:`~workflows.store.database.Database`).
    """
    store = Store.from_url(url, schema=schema)
    await store.open(upgrade=upgrade)
    try:
        yield store
    finally:
        await store.close()
