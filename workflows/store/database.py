"""The database port: one ``Database`` per URL, owning the AsyncEngine and the sessions.

SQLite (``sqlite+aiosqlite:///PATH``, the default under a state directory) and PostgreSQL
(``postgresql+asyncpg://...``) are the two adapters; the difference is kept in this module and
in :meth:`Database.insert` (the dialect's ``INSERT ... ON CONFLICT``).

Example::

    async with Database(default_url(state_dir)) as db:   # opens and upgrades the schema
        async with db.transaction() as session:
            ...
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, Select, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_, greenlet_spawn

from workflows.store.errors import StoreError, StoreUnavailable
from workflows.store.private import private_sqlite
from workflows.store.write_thread import WriteThread
from workflows.store.writer import Writer

T = TypeVar("T")
Dialect = Literal["sqlite", "postgresql"]

DATABASE_FILE = "controlroom.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
SQLITE_CACHE_KIB = 32 * 1024
_WRITE_OPTION = "controlroom_write"
_BEGIN_OPTION = "controlroom_begin"


def default_url(state_dir: Path) -> str:
    """The default SQLite URL: ``sqlite+aiosqlite:///STATE_DIR/controlroom.db``."""
    return f"sqlite+aiosqlite:///{Path(state_dir).expanduser().resolve() / DATABASE_FILE}"


class Database:
    """One database, by URL: engine, session factory, schema upgrade and error translation.

    ``schema`` (PostgreSQL only) puts every table of this connection in that schema through
    ``search_path``; it must exist. ``sqlite_mmap_bytes`` and ``sqlite_cache_kib`` (SQLite only)
    size each connection's memory map and page cache: both count in the process's RSS as they
    fill, up to these caps (0 turns the map off).
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        echo: bool = False,
        sqlite_mmap_bytes: int = SQLITE_MMAP_BYTES,
        sqlite_cache_kib: int = SQLITE_CACHE_KIB,
    ) -> None:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StoreError(
                f"url: unsupported database {backend!r}; use sqlite+aiosqlite:///PATH "
                f"or postgresql+asyncpg://USER@HOST/DB"
            )
        if schema is not None and backend != "postgresql":
            raise StoreError("schema: only PostgreSQL URLs take a schema; leave it unset for SQLite")
        if sqlite_mmap_bytes < 0 or sqlite_cache_kib < 1:
            raise StoreError("sqlite_mmap_bytes must be >= 0 and sqlite_cache_kib >= 1 "
                             f"(got {sqlite_mmap_bytes} and {sqlite_cache_kib})")
        self._sqlite_sizes = (sqlite_mmap_bytes, sqlite_cache_kib)
        self.url = url
        self.dialect: Dialect = backend  # type: ignore[assignment]
        self.schema = schema
        self._echo = echo
        self._engine: AsyncEngine | None = None
        self._read: async_sessionmaker[AsyncSession] | None = None
        self._write: async_sessionmaker[AsyncSession] | None = None
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if backend == "sqlite" else None
        self._write_thread: WriteThread | None = None
        self.writer = Writer(self)
        """The group-commit writer the frequent writes share (:mod:`workflows.store.writer`)."""

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def engine(self) -> AsyncEngine:
        """The AsyncEngine; other packages put their own tables (own MetaData) on it."""
        if self._engine is None:
            raise StoreError("the database is not open: call `await db.open()` first")
        return self._engine

    def shared_engine(self) -> AsyncEngine:
        """The engine for another package's own tables and transactions (the gateway's registry,
        provenance): on SQLite each transaction it begins starts with a plain ``BEGIN``, so
        ``engine.begin()`` commits whole (this port's own reads run in autocommit)."""
        return self.engine.execution_options(**{_BEGIN_OPTION: True})

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._engine is not None

    async def open(self, upgrade: bool = True) -> Database:
        """Create the engine (and the SQLite directory); bring the schema to head if ``upgrade``."""
        if self._engine is not None:
            return self
        kwargs: dict[str, Any] = {"echo": self._echo}
        if self.dialect == "sqlite":
            database = make_url(self.url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                private_sqlite(self.url)  # directory 0700 if new, file (and -wal/-shm/-journal) 0600
                self._write_thread = WriteThread(
                    self.url, SQLITE_BUSY_TIMEOUT_MS / 1000,
                    lambda sync_engine: _configure_sqlite_connections(sync_engine, *self._sqlite_sizes, writes=True))
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_pre_ping"] = True
            if self.schema is not None:
                kwargs["connect_args"] = {"server_settings": {"search_path": self.schema}}
        engine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(engine, *self._sqlite_sizes)
        else:
            _configure_postgresql(engine)
        self._engine = engine
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        try:
            if upgrade:
                await self.upgrade()
            else:
                await self.ping()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Answer the writes still queued, then dispose of the engine and its pooled connections."""
        if self._engine is not None:
            await self.writer.drain()
        engine, self._engine = self._engine, None
        write_thread, self._write_thread = self._write_thread, None
        self._read = self._write = None
        if write_thread is not None:
            await write_thread.close()
        if engine is not None:
            await engine.dispose()

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """Round-trip ``SELECT 1``; raises StoreUnavailable when the database does not answer."""
        async with self.session() as session:
            await session.connection()

    async def upgrade(self, revision: str = "head") -> None:
        """Bring the store's tables to ``revision`` with Alembic (idempotent; safe to run twice)."""
        from workflows.store.migrate import alembic_turn, run_upgrade

        async with self._translated(), alembic_turn():
            async with self.engine.execution_options(**{_WRITE_OPTION: True}).begin() as conn:
                await conn.run_sync(run_upgrade, revision, self.dialect)

    async def analyze(self) -> None:
        """Refresh the planner's statistics (``ANALYZE``); worth it after a bulk load."""
        async with self.transaction() as session:
            await session.execute(text("ANALYZE"))

    async def current_revision(self) -> str | None:
        """The store schema's revision in this database (None before the first upgrade)."""
        from workflows.store.migrate import read_revision

        async with self._translated():
            async with self.engine.connect() as conn:
                return await conn.run_sync(read_revision)

    # -- sessions ----------------------------------------------------------------------------

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session (SQLite: autocommit, one snapshot per statement); errors come out as
        store errors. Do not write through it: use :meth:`transaction`."""
        if self._read is None:
            raise StoreError("the database is not open: call `await db.open()` first")
        async with self._translated():
            async with self._read() as session:
                yield session

    async def rows(self, read: ReadStatement, params: Mapping[str, object]) -> list[Sequence[Any]]:
        """The rows of ``read`` with ``params`` bound, each a sequence of column values (types
        converted as SQLAlchemy would); errors come out as store errors.

        On a SQLite file the statement, compiled once, runs in ONE round trip to the driver's
        thread (execute and fetch together) on a pooled connection, with no ORM session: the
        usual path costs six (cursor, execute, fetch, cursor close and two rollbacks), each a
        hop between the event loop and the thread. Elsewhere it runs through a read session.
        """
        if self._read is None:
            raise StoreError("the database is not open: call `await db.open()` first")
        if self.dialect == "sqlite" and self.engine.sync_engine.dialect.driver == "aiosqlite":
            return await self._sqlite_rows(read.for_sqlite(self.engine.sync_engine.dialect), params)
        async with self.session() as session:
            conn = await session.connection()
            async with self._translated():
                return list((await conn.execute(read.statement, params)).all())

    async def _sqlite_rows(self, compiled: _SQLiteRead, params: Mapping[str, object]) -> list[Sequence[Any]]:
        async with self._translated():
            fairy = await greenlet_spawn(self.engine.sync_engine.raw_connection)
        try:
            rows = await fairy.driver_connection.execute_fetchall(compiled.sql, compiled.bind(params))
        except (sqlite3.Error, ValueError) as exc:  # ValueError: aiosqlite's "Connection closed"
            fairy.invalidate(exc)
            if isinstance(exc, sqlite3.OperationalError | ValueError):
                raise StoreUnavailable(f"database {self._safe_url()} failed: {exc}") from exc
            raise StoreError(f"database error: {exc}") from exc
        finally:
            # back to the pool: no round trip (a read leaves no transaction: see _skip_idle_rollback)
            await greenlet_spawn(fairy.close)
        return compiled.convert(rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write session committed on exit (SQLite: ``BEGIN IMMEDIATE``, so writers queue
        on the busy timeout instead of failing when a read turns into a write)."""
        if self._write is None:
            raise StoreError("the database is not open: call `await db.open()` first")
        async with self._write_turn(), self._translated():
            async with self._write() as session, session.begin():
                yield session

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` (synchronous, a SQLAlchemy Core ``Connection``) in one write
        transaction, committed when it returns; errors come out as store errors.

        On a SQLite file the whole transaction is one call in the write thread
        (:mod:`workflows.store.write_thread`): one hop to the driver instead of one per statement.
        Elsewhere (PostgreSQL, an in-memory SQLite) it runs through the async connection
        (``run_sync``); asyncpg's executemany sends a batch as one pipelined round trip.
        """
        if self._engine is None:
            raise StoreError("the database is not open: call `await db.open()` first")
        if self._write_thread is None:
            async with self._write_turn(), self._translated():
                async with self._engine.execution_options(**{_WRITE_OPTION: True}).begin() as conn:
                    return await conn.run_sync(work)
        async with self._write_turn(), self._translated():
            return await self._write_thread.run(work)

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        # SQLite has one writer at a time: queue this process's writers on a lock instead of
        # letting them spin in SQLite's busy handler (other processes still use busy_timeout).
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    def insert(self, model: Any) -> Any:
        """The dialect's INSERT for ``model`` (it has ``on_conflict_do_nothing/do_update``)."""
        if self.dialect == "sqlite":
            return sqlite.insert(model)
        return postgresql.insert(model)

    @asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        try:
            yield
        except StoreError:
            raise
        except IntegrityError as exc:
            raise StoreError(f"the database refused the write: {exc.orig}") from exc
        except DBAPIError as exc:
            if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated \
                    or connection_lost(exc.orig):
                raise StoreUnavailable(f"database {self._safe_url()} failed: {exc.orig}") from exc
            raise StoreError(f"database error: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc}") from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise StoreUnavailable(f"database {self._safe_url()} is unreachable: {exc}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith("asyncpg"):
                raise StoreUnavailable(f"database {self._safe_url()} failed: {exc}") from exc
            raise

    def _safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"Database({self._safe_url()!r}, {state})"


_LOST_SQLSTATES = ("08", "57P01", "57P02", "57P03")
"""SQLSTATEs of a lost or refused connection: class 08 (connection exception), admin/crash
shutdown, cannot connect now (the server is starting or shutting down)."""


def connection_lost(error: BaseException | None) -> bool:
    """Whether a driver error means the connection is gone or the server is (re)starting.

    asyncpg reports some of these as a plain driver error (``the database system is shutting
    down``, SQLSTATE 57P03) or, on a connection the server closed mid-operation, as an
    ``InternalClientError`` (``cannot switch to state ...``): both are an outage, not a bug.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_LOST_SQLSTATES):
            return True
        module = type(error).__module__
        if module.startswith("asyncpg") and type(error).__name__ in (
                "InternalClientError", "ConnectionDoesNotExistError", "ConnectionFailureError"):
            return True
        if isinstance(error, (ConnectionError, OSError)):
            return True
        error = error.__cause__
    return False


def _configure_postgresql(engine: AsyncEngine) -> None:
    """With ``pool_pre_ping`` (set in :meth:`Database.open`), a pooled connection is pinged at
    checkout and replaced when the ping fails. This listener makes the pool treat every lost
    connection (see :func:`connection_lost`) as a disconnect, so after a server restart the dead
    connections are invalidated and replaced instead of handed out again."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: Any) -> None:
        if not context.is_disconnect and connection_lost(context.original_exception):
            context.is_disconnect = True


class ReadStatement:
    """A SELECT run often through :meth:`Database.rows`: compiled for SQLite's driver once.

    Example::

        read = ReadStatement(select(LogRow.id).where(LogRow.agent == bindparam("agent")))
        rows = await db.rows(read, {"agent": "data-agent-alice-1"})
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._sqlite: _SQLiteRead | None = None

    def for_sqlite(self, dialect: Any) -> _SQLiteRead:
        """The statement compiled for ``dialect`` (a SQLite dialect; kept after the first call)."""
        if self._sqlite is None:
            self._sqlite = _SQLiteRead(self.statement, dialect)
        return self._sqlite


class _SQLiteRead:
    """A SELECT compiled for SQLite: its SQL text, the bind parameter order with each one's type
    conversion, and each result column's conversion; what SQLAlchemy does per execution, done once."""

    def __init__(self, statement: Select[Any], dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.positiontup is None or any(bind.expanding for bind in compiled.bind_names):
            raise StoreError("a ReadStatement needs positional parameters and no expanding IN lists")
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        self.sql = compiled.string
        self._compiled = compiled
        self._names = list(compiled.positiontup)
        self._binds = [(i, processor) for i, name in enumerate(self._names)
                       if (processor := by_name[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None]
        self._results = [(i, processor) for i, column in enumerate(statement.selected_columns)
                         if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None]

    def bind(self, params: Mapping[str, object]) -> list[Any]:
        """The positional parameters for ``params`` (the statement's own literals filled in)."""
        values = self._compiled.construct_params(dict(params))
        ordered = [values[name] for name in self._names]
        for i, processor in self._binds:
            ordered[i] = processor(ordered[i])
        return ordered

    def convert(self, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """``rows`` with each column's result conversion applied (timestamps become aware)."""
        if not self._results:
            return list(rows)
        converted: list[Sequence[Any]] = []
        for row in rows:
            values = list(row)
            for i, processor in self._results:
                values[i] = processor(values[i])
            converted.append(values)
        return converted


def skip_idle_rollback(engine: AsyncEngine) -> None:
    """On aiosqlite, make the dialect's rollback a no-op when the connection has no transaction open.

    The read session runs in autocommit (no BEGIN), yet closing it rolls back twice (the
    session's connection, then the pool's reset on return): two round trips to the driver's
    thread per read that SQLite would answer with nothing to do. ``in_transaction`` is read
    from the connection without a round trip; a write transaction (``BEGIN IMMEDIATE``, or the
    ``BEGIN`` of :meth:`Database.shared_engine`) is still rolled back.
    """
    dialect = engine.sync_engine.dialect
    if dialect.driver != "aiosqlite":
        return
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            idle = not dbapi_connection.driver_connection.in_transaction
        except ValueError:  # aiosqlite: no active connection; SQLAlchemy's rollback skips it too
            return
        if not idle:
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def terminate_without_task(engine: AsyncEngine) -> None:
    """Make the pool hard-close an aiosqlite connection by stopping its worker thread, never by
    the driver's graceful close.

    SQLAlchemy invalidates (terminates) a connection whose operation was cancelled; for asyncio
    drivers ``terminate()`` awaits ``asyncio.shield(graceful_close())``. Under an anyio cancel
    scope (uvicorn's shutdown, a FastMCP request, ``move_on_after``) the cancellation reaches
    that await again, the connection is force-stopped, and the shielded close is left waiting
    for aiosqlite's worker thread, which has already exited: a task pending forever, destroyed
    by the garbage collector in whichever test or loop runs next (``Task was destroyed but it is
    pending``, ``Exception ignored in ... _terminate_graceful_close``), or one ``asyncio.run``
    waits on at shutdown. For SQLite, stopping the worker thread IS the clean close: the thread
    closes the sqlite3 connection after any statement still running (an open transaction rolls
    back), with nothing left to await. Engines disposed normally still close gracefully.
    """
    dialect = engine.sync_engine.dialect
    if dialect.driver != "aiosqlite":
        return

    def do_terminate(dbapi_connection: Any) -> None:
        dbapi_connection.driver_connection.stop()  # aiosqlite.Connection.stop(): queued, no await

    dialect.do_terminate = do_terminate  # type: ignore[method-assign]


def _enter_wal(cursor: Any, sleep: Callable[[float], None]) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while another connection holds the file's lock.

    SQLite answers this pragma "database is locked" at once, without its busy handler, when
    another connection writes to a file still in rollback mode or is switching the same new file
    to WAL: two processes opening a new store together.
    Tries every 5 ms doubling to 100 ms, for as long as the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + delay > deadline:
                raise
        sleep(delay)
        delay = min(delay * 2, 0.1)


def _configure_sqlite(engine: AsyncEngine, mmap_bytes: int, cache_kib: int) -> None:
    """WAL, synchronous=NORMAL, foreign keys, busy timeout, memory-mapped reads (256 MiB by
    default), a page cache (32 MiB by default); we emit BEGIN ourselves; a cancelled connection
    is closed without a task left behind (:func:`terminate_without_task`); a rollback with no
    transaction open costs nothing (:func:`skip_idle_rollback`)."""
    terminate_without_task(engine)
    skip_idle_rollback(engine)
    _configure_sqlite_connections(
        engine.sync_engine, mmap_bytes, cache_kib, sleep=lambda seconds: await_(asyncio.sleep(seconds)),
    )


def _configure_sqlite_connections(
    engine: Engine, mmap_bytes: int, cache_kib: int, writes: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The pragmas of every connection and who begins how; ``writes``: every transaction of this
    engine is a write (the write thread's), so each one begins ``IMMEDIATE``; ``sleep``: how a
    connect waits between tries to enter WAL (:func:`_enter_wal`), without blocking an event loop."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not open transactions itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enter_wal(cursor, sleep)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA mmap_size={mmap_bytes}")  # reads without a syscall per page
        cursor.execute(f"PRAGMA cache_size=-{cache_kib}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front; readers run in autocommit (each statement its
        # own snapshot), which saves two round trips to the driver thread per read.
        options = conn.get_execution_options()
        if writes or options.get(_WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif options.get(_BEGIN_OPTION, False):
            conn.exec_driver_sql("BEGIN")  # shared_engine(): another package's transaction
