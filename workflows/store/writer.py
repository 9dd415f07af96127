"""Group commit: the one path the store's frequent writes take.

Agents write often and a little at a time: an STF row, a sample, the slices of a sample, a
batch of slice marks, a heartbeat, a few log lines. Written as one transaction each, they queue
on SQLite's single writer and each pays BEGIN, a few driver round trips and COMMIT. The
:class:`Writer` instead takes everything queued when it is free and applies it in ONE
transaction: the writes of one kind together, through that kind's batch function (one
executemany, and one read-back where the caller gets a record), then COMMIT, and only then
answers each caller with its own result. The flush is one synchronous function over a Core
connection: on SQLite it runs whole in the database's write thread, one hop to the driver
instead of one per statement. While it writes, the next writes queue; an idle writer starts
at once, so a lone write waits for no timer.

What a caller can rely on:

* a call returns only after the transaction holding its write committed, and raises when it
  did not: an acknowledgement sent after ``await`` is sent after the row is durable;
* a call's write is applied once: writes of one kind in submission order, the kinds in the
  order they first appear in the flush. Writes in one flush never depend on each other: a
  caller submits a write only after the writes it depends on returned, i.e. committed;
* a write whose caller was cancelled before its flush began is dropped (as a cancelled call
  that never reached the database was before);
* ``StoreUnavailable`` (the database is away) fails every write of the flush, and the callers
  retry as before (``outage.retry_unavailable``); any other error rolls the flush back and
  applies its writes again one transaction each, so only the faulty write fails.

A batch function gets the connection and the items of its writes and returns one result per item;
a result that is an exception is raised to that caller alone (e.g. ``NotFound`` for one STF).

Example (inside a repository)::

    async def add_stf(self, ...) -> StfFileRecord:
        return await self._db.writer.submit(self._insert_stf_files, row)

    def _insert_stf_files(self, conn: Connection, rows: list[dict]) -> list[StfFileRecord]:
        ...  # one INSERT ... ON CONFLICT DO NOTHING executemany, one SELECT ... IN
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import json.encoder
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import JSON, Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from workflows.store.errors import StoreUnavailable
from workflows.store.timestamps import UTCDateTime, as_utc

if TYPE_CHECKING:
    from workflows.store.database import Database

T = TypeVar("T")
BatchFunction = Callable[[Connection, list[Any]], list[Any]]
"""Applies the items of one kind inside the flush's transaction (a synchronous Core connection:
the flush runs as one call, see :meth:`Database.run_write`); one result per item."""


@dataclass(eq=False)
class _Write:
    apply: BatchFunction
    item: Any
    future: asyncio.Future[Any]


class Writer:
    """The group-commit writer of one :class:`Database` (``db.writer``).

    ``flushes`` counts the transactions it committed and ``writes`` the writes in them, so a
    test or a benchmark can see how many writes shared a transaction.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[_Write] = []
        self._task: asyncio.Task[None] | None = None
        self._held: AsyncConnection | None = None
        self.flushes = 0
        self.writes = 0

    async def submit(self, apply: BatchFunction, item: Any) -> Any:
        """Queue ``item`` for ``apply`` and return its result once the flush holding it committed."""
        loop = asyncio.get_running_loop()
        write = _Write(apply, item, loop.create_future())
        self._queue.append(write)
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name=f"store-writer:{self._db.dialect}")
        return await write.future

    async def drain(self) -> None:
        """Wait until every write queued so far is answered (before the database closes)."""
        task = self._task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                # a cancelled caller's write is dropped; a write of a loop that is gone is nobody's
                batch = [w for w in batch if not w.future.done() and w.future.get_loop() is loop]
                if batch:
                    await self._flush(batch)
        finally:
            await self._let_go()

    async def _transact(self, work: Callable[[Connection], T]) -> T:
        """``db.run_write(work)``; on PostgreSQL through the connection the writer holds while it
        has flushes back to back.

        Every checkout from the pool pings the server first (``pool_pre_ping``: a connection that
        died while pooled is replaced, not handed out), one round trip per flush before ``BEGIN``,
        and on a busy event loop each round trip waits for the loop's turn. The writer keeps the
        connection it just committed on while more writes are queued and gives it back when it
        goes idle, so a run's flushes ping once per busy stretch, not once each. A flush that
        fails gives the connection back (an outage fails that flush with ``StoreUnavailable``, as
        a lost connection mid-flush always did, and the next flush checks out a pinged one)."""
        db = self._db
        if db.dialect != "postgresql":
            return await db.run_write(work)
        async with db._translated():  # the store's errors, as run_write gives them
            conn = self._held
            if conn is None:
                conn = self._held = await db.engine.connect()
            try:
                async with conn.begin():
                    return await conn.run_sync(work)
            except BaseException:
                await self._let_go()
                raise

    async def _let_go(self) -> None:
        conn, self._held = self._held, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()  # back to the pool (invalidated by the pool if it was lost)

    async def _flush(self, batch: list[_Write]) -> None:
        groups: dict[BatchFunction, list[_Write]] = {}
        for write in batch:
            groups.setdefault(write.apply, []).append(write)

        def work(conn: Connection) -> list[tuple[list[_Write], list[Any]]]:
            return [(writes, apply(conn, [w.item for w in writes])) for apply, writes in groups.items()]

        try:
            outcomes = await self._transact(work)
        except StoreUnavailable as exc:
            _fail(batch, exc)
            return
        except asyncio.CancelledError:
            _fail(batch, StoreUnavailable("the store's writer was stopped before this write committed"))
            raise
        except Exception as exc:  # noqa: BLE001 - one faulty write must not fail the others
            if len(batch) == 1:
                _fail(batch, exc)
                return
            for write in batch:  # each alone: only the faulty write fails
                await self._flush([write])
            return
        self.flushes += 1
        self.writes += len(batch)
        for writes, results in outcomes:
            if len(results) != len(writes):
                _fail(writes, RuntimeError(f"batch function returned {len(results)} results for {len(writes)} writes"))
                continue
            for write, result in zip(writes, results, strict=True):
                if write.future.done():
                    continue
                if isinstance(result, BaseException):
                    write.future.set_exception(result)
                else:
                    write.future.set_result(result)


def _fail(writes: list[_Write], exc: BaseException) -> None:
    for write in writes:
        if not write.future.done():
            write.future.set_exception(exc)


# -- the rows of a batch function ------------------------------------------------------------

_Plan = tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]
_PLANS: dict[tuple[int, str, tuple[str, ...]], tuple[Any, _Plan | None]] = {}


def execute_rows(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> int:
    """``conn.execute(statement, rows).rowcount`` (an executemany), with SQLAlchemy's per-row
    work done once per statement instead of once per row; returns the driver's row count.

    For a batch of slices SQLAlchemy spent most of the flush building each row's parameters
    (``construct_params`` and the type chain per value): a third of the SQLite write thread's
    time, and as much again in the event loop on PostgreSQL. Here the statement is compiled
    once (kept by identity: pass a statement built once), the positions of its parameters and
    their bind processors are taken from the compiled form, and each row becomes a tuple
    handed to the driver (``exec_driver_sql``). Values go through the same bind processors, so
    the rows stored are the same; on SQLite a time is written as the text SQLAlchemy's SQLite
    ``DateTime`` writes (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC) without its type chain, and a dict
    for a ``JSON`` column as the text ``json.dumps`` writes, through one encoder made once. A
    statement this cannot plan (no positional form) takes the ordinary path.
    """
    if not rows:
        return 0
    keys = tuple(rows[0])
    cache_key = (id(statement), conn.dialect.name, keys)
    cached = _PLANS.get(cache_key)
    if cached is None or cached[0] is not statement:
        if len(_PLANS) >= 256:  # statements are meant to be built once; bound the cache all the same
            _PLANS.clear()
        cached = (statement, _plan(conn, statement, keys))
        _PLANS[cache_key] = cached
    plan = cached[1]
    if plan is None:
        return conn.execute(statement, rows).rowcount
    sql, build = plan
    return conn.exec_driver_sql(sql, [build(row) for row in rows]).rowcount


def _plan(conn: Connection, statement: Any, keys: tuple[str, ...]) -> _Plan | None:
    steps = _steps(conn, statement, keys)
    return None if steps is None else (steps[0], _row_builder(steps[1]))


def _row_builder(steps: list[tuple[bool, Any, Any]]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """One function that turns a row into its parameter tuple, written out for this statement:
    ``lambda row: (row['namespace'], p10(row['requested_at']), c11)``. A loop over the steps with a
    test per value took 3-4 us a row, the write thread's largest share of a flush of slices (and
    the thread holds the GIL meanwhile); the written-out tuple takes about one. Names are column
    keys (``repr`` of a str) and the values and processors are passed in, never written as code."""
    parts: list[str] = []
    scope: dict[str, Any] = {}
    for index, (from_row, value, process) in enumerate(steps):
        if not from_row:
            scope[f"c{index}"] = value
            parts.append(f"c{index}")
        elif process is not None:
            scope[f"p{index}"] = process
            parts.append(f"p{index}(row[{str(value)!r}])")
        else:
            parts.append(f"row[{str(value)!r}]")
    return eval(f"lambda row: ({', '.join(parts)},)", scope)  # noqa: S307 - built from column keys only


def _steps(conn: Connection, statement: Any, keys: tuple[str, ...]) -> tuple[str, list[tuple[bool, Any, Any]]] | None:
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
    positions = getattr(compiled, "positiontup", None)
    processors = getattr(compiled, "_bind_processors", None)
    if (not positions or processors is None or compiled.literal_execute_params or compiled.post_compile_params
            or getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None)):
        return None  # defaults computed per row in Python, or parameters expanded at run time
    sqlite = conn.dialect.name == "sqlite"
    steps: list[tuple[bool, Any, Any]] = []
    for name in positions:
        process = processors.get(name)
        bind = compiled.binds.get(name)
        if bind is None:
            return None
        if name in keys:
            if sqlite and isinstance(bind.type, UTCDateTime):
                process = _sqlite_time(process)
            elif sqlite and process is not None and isinstance(bind.type, JSON) \
                    and conn.dialect._json_serializer is None:
                process = _json_text(process)
            steps.append((True, name, process))
        elif bind.callable is None and not bind.required:  # written into the statement: status = 'done'
            value = bind.effective_value
            steps.append((False, process(value) if process else value, None))
        else:
            return None
    return compiled.string, steps


_json_encoder = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True,
) if json.encoder.c_make_encoder is not None else None  # type: ignore[attr-defined]
"""``json.dumps``'s own C encoder with its default settings, made once: ``json.dumps`` builds a new
one per call (~3 us for a slice's result; this ~1)."""


def _json_text(general: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """What SQLAlchemy's ``JSON`` writes for a dict (``json.dumps`` with its defaults, the
    dialect's default serializer), in one step; anything else goes through ``general``."""
    if _json_encoder is None:
        return general
    encoder = _json_encoder

    def process(value: Any) -> Any:
        if type(value) is dict:
            return "".join(encoder(value, 0))
        return general(value)

    return process


def _sqlite_time(general: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """What ``UTCDateTime`` then SQLite's ``DateTime`` make of a datetime, in one step (anything
    else still goes through ``general``, the compiled chain)."""

    def process(value: Any) -> Any:
        if type(value) is datetime:
            if value.tzinfo is UTC:  # the store's own times (as_utc, utcnow): "...+00:00" cut off
                return value.isoformat(" ", "microseconds")[:-6]
            return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
        return general(value) if general is not None else value

    return process
