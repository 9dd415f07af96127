"""The append-only provenance store on a caller's AsyncEngine (SQLite or PostgreSQL).

Two tables, both prefixed (``prov_`` by default): ``<prefix>records`` (one row per record,
unique ``(stream, seq)``) and ``<prefix>mentions`` (which element ids each record mentions, so
that queries find the records about an execution, a file or a person without scanning).
There is deliberately no update or delete: the only write is :meth:`ProvStore.append`.

>>> from sqlalchemy.ext.asyncio import create_async_engine
>>> store = ProvStore(create_async_engine("sqlite+aiosqlite://"))
>>> store.records_table.name
'prov_records'
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Integer, Column, Index, MetaData, String, Table, Text, Select, UniqueConstraint, event, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from prov_agent.chain import DECLARED, ChainProblem, StoredRow, Verification, check_stream
from prov_agent.errors import ChainConflict, InvalidProvInput, StoreError

_PREFIX = re.compile(r"^prov_[a-z0-9_]{0,40}$")
_READ_BATCH = 5000
# parameters per multi-row INSERT: 8,000 (1,000 records, 2,666 mention rows), or half of what this
# SQLite allows if that is less. Each statement is a round trip through the driver's thread and
# the event loop (GIL hand-offs included): a 2,000-record chunk in 5 statements instead of 17 cost
# 3-7 us of CPU per record less than 2,000 parameters did. Binding holds the GIL (the step does not):
# 1.4 ms for 8,000 parameters, 3.0 ms for 16,000 (its worst stalls looked larger, within the noise)
_SQLITE_PARAMS = 8_000
_SQLITE_CACHE_KIB = 65536


@functools.cache
def _sqlite_params() -> int:
    """Parameters per multi-row INSERT on the SQLite library this process links."""
    probe = sqlite3.connect(":memory:")
    try:
        return min(_SQLITE_PARAMS, probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 2)
    finally:
        probe.close()


def _private_database(path: Path) -> Path:
    """Create the SQLite file 0600 before SQLite does (its -wal/-shm/-journal copy the file's mode).

    The same rule as ``workflows.store.private``, repeated because this package imports none of ours.
    """
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if file.exists():
            file.chmod(0o600)
    return path


def _stop_aiosqlite(dbapi_connection: Any) -> None:
    dbapi_connection.driver_connection.stop()  # aiosqlite.Connection.stop(): queued, nothing to await


def engine_for(database_url: str | None = None, state_dir: Path | None = None) -> AsyncEngine:
    """An engine for the CLI and tools: the URL if given, else SQLite at ``state_dir/controlroom.db``.

    SQLite gets WAL and a busy timeout so a reader (the CLI) and writers (gateway, node) can
    share the file.
    """
    if database_url:
        url = database_url
    else:
        directory = Path(state_dir if state_dir is not None else Path.home() / ".controlroom").expanduser()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{_private_database(directory / 'controlroom.db')}"
    engine = create_async_engine(url)
    if engine.dialect.driver == "aiosqlite":
        # A cancelled connection is hard-closed by stopping aiosqlite's worker thread, not by the
        # driver's shielded graceful close, which a repeated (anyio) cancellation leaves as a task
        # pending forever (the same rule as workflows.store.database.terminate_without_task).
        engine.sync_engine.dialect.do_terminate = _stop_aiosqlite  # type: ignore[method-assign]
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=10000")
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as error:
                # SQLite refuses this pragma at once (no busy wait) while another connection
                # holds the lock of a file not yet in WAL: a controlroom writer creating the
                # file, which turns WAL on itself; WAL is a property of the file, so this
                # connection reads in WAL once that writer is done.
                if "locked" not in str(error):
                    raise
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


class ProvStore:
    """Append-only, hash-chained provenance records on an engine given by the caller."""

    def __init__(self, engine: AsyncEngine, table_prefix: str = "prov_") -> None:
        if not _PREFIX.match(table_prefix):
            raise InvalidProvInput(
                "table_prefix", f"{table_prefix!r} is not allowed", "use 'prov_' plus lowercase letters, digits, _"
            )
        self.engine = engine
        self.table_prefix = table_prefix
        self.metadata = MetaData()
        self.records_table = Table(
            f"{table_prefix}records",
            self.metadata,
            Column("record_id", String(36), primary_key=True),
            Column("stream", String(200), nullable=False),
            Column("seq", BigInteger, nullable=False),
            Column("kind", String(32), nullable=False),
            Column("time", String(32), nullable=False),
            Column("body", Text, nullable=False),
            Column("prev_hash", String(64), nullable=False),
            Column("hash", String(64), nullable=False),
            UniqueConstraint("stream", "seq", name=f"{table_prefix}records_stream_seq"),
            Index(f"{table_prefix}records_time", "time"),
            # a stream's records in (time, seq) order without a sort (migration prov_0002)
            Index(f"{table_prefix}records_stream_time", "stream", "time", "seq"),
        )
        self.mentions_table = Table(
            f"{table_prefix}mentions",
            self.metadata,
            Column("element_id", String(400), nullable=False),
            Column("record_id", String(36), nullable=False),
            Column("role", Integer, nullable=False),
            Index(f"{table_prefix}mentions_element", "element_id"),
        )

    async def create_schema(self) -> None:
        """Bring the tables to the newest revision of ``prov_agent/migrations`` (Alembic, version
        table ``<prefix>alembic_version``; idempotent). A database made before migrations (tables,
        no version row) is stamped at the baseline first; see :mod:`prov_agent.migrate`."""
        from alembic.util import CommandError

        from prov_agent.migrate import alembic_turn, upgrade_schema

        try:
            async with alembic_turn(), self.engine.begin() as conn:
                await conn.run_sync(upgrade_schema, self.table_prefix)
        except (SQLAlchemyError, CommandError) as exc:
            raise StoreError(f"could not create or upgrade the provenance tables: {exc}") from exc

    async def schema_revision(self) -> str | None:
        """The Alembic revision of this store's tables (None: never migrated)."""
        from prov_agent.migrate import current_revision

        try:
            async with self.engine.connect() as conn:
                return await conn.run_sync(current_revision, self.table_prefix)
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read the provenance schema revision: {exc}") from exc

    async def append(self, rows: Sequence[StoredRow], mentions: Iterable[tuple[str, str, int]]) -> None:
        """Insert a batch of records and their mentions in ONE transaction (all or nothing)."""
        flat_rows = [
            value
            for r in rows
            for value in (
                (r.record_id, r.stream, r.seq, r.kind, r.time, r.body, r.prev_hash, r.hash)
                if isinstance(r, StoredRow)
                else r
            )
        ]
        flat_mentions = [value for m in mentions for value in m]

        async def one() -> AsyncIterator[tuple[list[Any], list[Any]]]:
            yield flat_rows, flat_mentions

        await self.append_chunks(one())

    async def append_chunks(self, chunks: AsyncIterator[tuple[list[Any], list[Any]]]) -> int:
        """Insert chunks as they come, all in ONE transaction; return the number of records.

        A chunk is two flat lists: the rows' column values one row after the other, in the
        records table's column order, and the mentions' (element_id, record_id, role) likewise.
        The caller may prepare the next chunk while this one is written (the writer does).
        """
        insert_records = self._inserter(self.records_table)
        insert_mentions = self._inserter(self.mentions_table)
        width = len(self.records_table.columns)
        total = 0
        try:
            async with self.engine.begin() as conn:
                if self.engine.dialect.name == "sqlite":
                    # 64 MiB of page cache on the connection that writes: with call ids in time order
                    # the indexes take inserts near their ends; 2 MiB (the default) cost ~30% per row
                    # when they were random
                    await conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
                async for rows, mentions in chunks:
                    if not rows:
                        continue
                    await insert_records(conn, rows)
                    if mentions:
                        await insert_mentions(conn, mentions)
                    total += len(rows) // width
        except IntegrityError as exc:
            raise ChainConflict(f"another writer extended one of these streams first: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"could not append provenance records: {exc}") from exc
        return total

    def _insert_sql(self, table: Table, marker: str | None, rows: int = 1) -> str:
        names = [c.name for c in table.columns]
        places = [marker or f"${i + 1}" for i in range(len(names))]
        values = ", ".join([f"({', '.join(places)})"] * rows)
        return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values}"

    def _inserter(self, table: Table) -> Callable[[AsyncConnection, list[Any]], Awaitable[None]]:
        """How to insert rows given flat (all the values, row after row) into ``table``: on SQLite
        multi-row ``VALUES`` statements of up to 8,000 parameters, each binding a slice of the flat
        list (about 10% less CPU per row than executemany, and SQLite releases the GIL once per
        statement instead of once per row); the rest in statements of a power of two rows each, so
        that the driver's statement cache holds a few texts, not one per size; elsewhere the
        driver's executemany."""
        width = len(table.columns)
        if self.engine.dialect.paramstyle != "qmark":
            one = self._insert_sql(table, None)

            async def executemany(conn: AsyncConnection, flat: list[Any]) -> None:
                await conn.exec_driver_sql(one, list(zip(*[iter(flat)] * width)))

            return executemany
        per = max(1, _sqlite_params() // width)
        statements: dict[int, str] = {}  # rows -> SQL: per, and powers of two below it (few texts)

        def sql(rows: int) -> str:
            found = statements.get(rows)
            if found is None:
                found = statements[rows] = self._insert_sql(table, "?", rows)
            return found

        async def multirow(conn: AsyncConnection, flat: list[Any]) -> None:
            start, end = 0, len(flat)
            while start < end:
                left = (end - start) // width
                rows = per if left >= per else 1 << (left.bit_length() - 1)  # the rest: 512 + 128 + ...
                stop = start + rows * width
                await conn.exec_driver_sql(sql(rows), tuple(flat[start:stop]))
                start = stop

        return multirow

    async def heads(self, streams: Iterable[str]) -> dict[str, tuple[int, str]]:
        """The last (seq, hash) of each named stream that has records."""
        names = list(set(streams))
        t = self.records_table
        out: dict[str, tuple[int, str]] = {}
        try:
            async with self.engine.connect() as conn:
                for i in range(0, len(names), 500):
                    chunk = names[i : i + 500]
                    last = (
                        select(t.c.stream, func.max(t.c.seq).label("seq"))
                        .where(t.c.stream.in_(chunk))
                        .group_by(t.c.stream)
                        .subquery()
                    )
                    query = select(t.c.stream, t.c.seq, t.c.hash).join(
                        last, (t.c.stream == last.c.stream) & (t.c.seq == last.c.seq)
                    )
                    for stream, seq, hash_ in (await conn.execute(query)).all():
                        out[stream] = (int(seq), hash_)
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read stream heads: {exc}") from exc
        return out

    async def streams(self) -> list[str]:
        t = self.records_table
        async with self.engine.connect() as conn:
            return list((await conn.execute(select(t.c.stream).distinct().order_by(t.c.stream))).scalars())

    def _in_scope(self, query: Select[Any], stream: str | None, since: str | None, until: str | None) -> Select[Any]:
        """``query`` limited to a stream and a time window ``[since, until)``, each when given."""
        t = self.records_table
        if stream is not None:
            query = query.where(t.c.stream == stream)
        if since is not None:
            query = query.where(t.c.time >= since)
        if until is not None:
            query = query.where(t.c.time < until)
        return query

    async def count(self, *, stream: str | None = None, since: str | None = None, until: str | None = None) -> int:
        """How many records (of a stream, in a time window, if given)."""
        t = self.records_table
        query = select(func.count()).select_from(t)
        query = self._in_scope(query, stream, since, until)
        try:
            async with self.engine.connect() as conn:
                return int((await conn.execute(query)).scalar_one())
        except SQLAlchemyError as exc:
            raise StoreError(f"could not count provenance records: {exc}") from exc

    async def record_keys(
        self, record_ids: Iterable[str], since: str | None = None, until: str | None = None
    ) -> list[tuple[str, str, int, str]]:
        """(time, stream, seq, record_id) of these records, in that order, without their bodies:
        what a page of a large scope is cut from before the page's bodies are read."""
        wanted = list(set(record_ids))
        t = self.records_table
        out: list[tuple[str, str, int, str]] = []
        try:
            async with self.engine.connect() as conn:
                for i in range(0, len(wanted), 500):
                    query = select(t.c.time, t.c.stream, t.c.seq, t.c.record_id).where(
                        t.c.record_id.in_(wanted[i : i + 500])
                    )
                    if since is not None:
                        query = query.where(t.c.time >= since)
                    if until is not None:
                        query = query.where(t.c.time < until)
                    out.extend((a, b, int(c), d) for a, b, c, d in (await conn.execute(query)).all())
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read provenance records: {exc}") from exc
        out.sort()
        return out

    async def iter_stream(self, stream: str) -> AsyncIterator[StoredRow]:
        """Every row of a stream in seq order, read in batches."""
        t = self.records_table
        after = -(2**62)
        while True:
            query = (
                select(*t.c).where(t.c.stream == stream, t.c.seq > after).order_by(t.c.seq).limit(_READ_BATCH)
            )
            async with self.engine.connect() as conn:
                batch = [StoredRow(*row) for row in (await conn.execute(query)).all()]
            for row in batch:
                yield row
            if len(batch) < _READ_BATCH:
                return
            after = batch[-1].seq

    async def verify(self) -> Verification:
        """Walk every stream's chain; name every edited, inserted or deleted record."""
        problems: list[ChainProblem] = []
        total = 0
        try:
            names = await self.streams()
            for stream in names:
                head: tuple[int, str] | None = None
                chunk: list[StoredRow] = []
                async for row in self.iter_stream(stream):
                    chunk.append(row)
                    if len(chunk) >= _READ_BATCH:
                        seen, found = check_stream(chunk, head)
                        total, head, chunk = total + seen, (chunk[-1].seq, chunk[-1].hash), []
                        problems.extend(found)
                seen, found = check_stream(chunk, head)
                total += seen
                problems.extend(found)
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read the provenance records: {exc}") from exc
        return Verification(ok=not problems, streams=len(names), records=total, problems=problems)

    async def records(
        self,
        *,
        stream: str | None = None,
        record_ids: Iterable[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        kinds: Iterable[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[StoredRow]:
        """Rows matching every given filter, ordered by time then stream and seq."""
        t = self.records_table
        query = select(*t.c)
        query = self._in_scope(query, stream, since, until)
        if kinds is not None:
            query = query.where(t.c.kind.in_(list(kinds)))
        query = query.order_by(t.c.time, t.c.stream, t.c.seq)
        try:
            async with self.engine.connect() as conn:
                if record_ids is None:
                    if limit is not None:
                        query = query.limit(limit)
                    if offset:
                        query = query.offset(offset)
                    return [StoredRow(*row) for row in (await conn.execute(query)).all()]
                wanted = list(set(record_ids))
                out: list[StoredRow] = []
                for i in range(0, len(wanted), 500):
                    q = query.where(t.c.record_id.in_(wanted[i : i + 500]))
                    out.extend(StoredRow(*row) for row in (await conn.execute(q)).all())
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read provenance records: {exc}") from exc
        out.sort(key=lambda r: (r.time, r.stream, r.seq))
        return out[offset : offset + limit if limit is not None else None]

    async def stream_bodies(
        self, *, stream: str | None = None, since: str | None = None, until: str | None = None, batch: int = _READ_BATCH
    ) -> AsyncIterator[list[str]]:
        """Record bodies ordered by time then stream and seq, in lists of up to ``batch``, read from
        one query through the driver's cursor (memory holds one list at a time, not the scope)."""
        t = self.records_table
        query = select(t.c.body)
        query = self._in_scope(query, stream, since, until)
        query = query.order_by(t.c.time, t.c.stream, t.c.seq)
        try:
            async with self.engine.connect() as conn:
                result = await conn.stream(query.execution_options(yield_per=batch))
                # scalars: the driver's own rows (tuples of a string: untracked by the garbage
                # collector once it has seen them), not a Row object per record, which stay tracked
                # while a batch is alive and made the export's full collections ≈ 20% of its CPU
                async for part in result.scalars().partitions(batch):
                    yield part
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read provenance records: {exc}") from exc

    async def first_declarations(self, element_ids: Iterable[str]) -> list[StoredRow]:
        """For each id, the earliest record that declares it (exports use it for ids declared
        outside their scope, e.g. an agent the gateway declared in an earlier call)."""
        wanted = list(set(element_ids))
        t = self.mentions_table
        first: set[str] = set()
        try:
            async with self.engine.connect() as conn:
                for i in range(0, len(wanted), 500):
                    q = (
                        select(func.min(t.c.record_id))
                        .where(t.c.element_id.in_(wanted[i : i + 500]), t.c.role.op("&")(DECLARED) != 0)
                        .group_by(t.c.element_id)
                    )
                    first.update((await conn.execute(q)).scalars())
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read provenance mentions: {exc}") from exc
        return await self.records(record_ids=first) if first else []

    async def mentioning(self, element_ids: Iterable[str], role: int | None = None) -> set[str]:
        """Ids of the records that mention any of these element ids (in that role, if given)."""
        wanted = list(set(element_ids))
        t = self.mentions_table
        found: set[str] = set()
        try:
            async with self.engine.connect() as conn:
                for i in range(0, len(wanted), 500):
                    q = select(t.c.record_id).where(t.c.element_id.in_(wanted[i : i + 500]))
                    if role is not None:
                        q = q.where(t.c.role.op("&")(role) != 0)
                    q = q.distinct()
                    found.update((await conn.execute(q)).scalars())
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read provenance mentions: {exc}") from exc
        return found
