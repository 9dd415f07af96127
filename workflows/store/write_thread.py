"""SQLite's write transactions in one hop: a thread of its own with a synchronous connection.

Through aiosqlite every statement, fetch, cursor close, BEGIN and COMMIT is a round trip
between the event loop and the connection's thread. Each trip wakes a thread; on a loaded
machine a wake-up costs up to a scheduler slice, and a flush of a few statements paid a dozen
of them. :class:`WriteThread` runs the whole transaction (``BEGIN IMMEDIATE``, the
statements, ``COMMIT``) as one call in one thread with a plain ``sqlite3`` connection
(SQLAlchemy's pysqlite dialect): one trip per flush, whatever it holds.

Only the group-commit writer uses it (:meth:`Database.run_write`); reads and the other writes
stay on the async engine. Both engines open the same file in WAL mode with the same pragmas;
the database's asyncio write lock is held around a flush, so this process's writers never wait
on each other in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url

T = TypeVar("T")


class WriteThread:
    """One thread and one synchronous SQLite connection for write transactions.

    ``configure(engine)`` installs the pragmas and the ``BEGIN IMMEDIATE`` hook on the engine
    it is given (the Database's own SQLite set-up).
    """

    def __init__(self, url: str, timeout_s: float, configure: Callable[[Engine], None]) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        self._engine = create_engine(sync_url, connect_args={"timeout": timeout_s, "check_same_thread": False},
                                     pool_size=1, max_overflow=0)
        configure(self._engine)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write")
        self._used = False

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in one transaction in the thread, committed when it returns."""
        self._used = True
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._transaction, work)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    async def close(self) -> None:
        """Close the connection in its thread (after any transaction still running) and stop it;
        a write thread never used (a database opened only to read, or for another package's
        tables) has no thread and no connection to close."""
        if not self._used:
            self._executor.shutdown(wait=False)
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._engine.dispose)
        finally:
            self._executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"WriteThread({self._engine.url!r})"
