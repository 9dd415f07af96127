"""The files a run produces: STF files (the data agent registers them) and TF samples (fastmon).

Registering is idempotent (a bus message redelivered repeats it): the first row wins and the
call returns the stored row. Registrations and status changes go through the group-commit
writer (:mod:`workflows.store.writer`): the concurrent ones share one transaction, one
executemany per kind and one read-back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, text, update

from workflows.store.database import Database
from workflows.store.errors import InvalidQuery, NotFound
from workflows.store.models import StfFileRow, TfSampleRow
from workflows.store.paging import equals, fetch_page, time_range
from workflows.store.records import Page, StfFileRecord, StfStatus, TfSampleRecord
from workflows.store.timestamps import utcnow
from workflows.store.writer import execute_rows

STF_STATUSES = ("registered", "ready", "processed", "failed")
_STF = StfFileRow.__table__
_SAMPLES = TfSampleRow.__table__


def one_of(field: str, value: str, allowed: Sequence[str]) -> None:
    """InvalidQuery naming ``field`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise InvalidQuery(field, f"unknown value {value!r}; use one of {', '.join(allowed)}")


class StfFiles:
    """STF files and TF samples of every namespace (``store.runs`` has these methods).

    Example::

        await store.runs.add_stf("swf.100010.000001.stf", "alice", execution_id, 100010, 1, status="ready")
        await store.runs.set_stf_status("swf.100010.000001.stf", "processed")
        await store.runs.add_tf_sample("swf.100010.000001.tf", "swf.100010.000001.stf", "alice",
                                       execution_id, 100010, tf_first=0, tf_last=9, tf_count=10)
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- STF files ---------------------------------------------------------------------------

    async def add_stf(
        self,
        filename: str,
        namespace: str,
        execution_id: str | None,
        run_number: int | None,
        sequence: int | None,
        size_bytes: int | None = None,
        checksum: str | None = None,
        status: StfStatus = "registered",
    ) -> StfFileRecord:
        """Register an STF file (idempotent on ``filename``); returns the stored row."""
        one_of("status", status, STF_STATUSES)
        now = utcnow()
        row = dict(filename=filename, namespace=namespace, execution_id=execution_id, run_number=run_number,
                   sequence=sequence, size_bytes=size_bytes, checksum=checksum, status=status,
                   created_at=now, updated_at=now)
        record: StfFileRecord = await self._db.writer.submit(self._insert_stf_files, row)
        return record

    async def set_stf_status(
        self, filename: str, status: StfStatus, size_bytes: int | None = None, checksum: str | None = None
    ) -> StfFileRecord:
        """Move an STF file to ``status`` (and fill in size/checksum when known); NotFound when
        there is no such file."""
        one_of("status", status, STF_STATUSES)
        change = {"b_filename": filename, "b_status": status, "b_updated_at": utcnow(),
                  "b_size_bytes": size_bytes, "b_checksum": checksum}
        record: StfFileRecord = await self._db.writer.submit(self._update_stf_status, change)
        return record

    async def get_stf(self, filename: str) -> StfFileRecord:
        """STF file ``filename``; NotFound when there is none."""
        async with self._db.session() as session:
            row = await session.scalar(select(StfFileRow).where(StfFileRow.filename == filename))
        if row is None:
            raise NotFound("STF file", filename)
        return StfFileRecord.model_validate(row)

    async def list_stf(
        self,
        namespace: str | None = None,
        execution_id: str | None = None,
        run_number: int | None = None,
        status: StfStatus | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[StfFileRecord]:
        """STF files, newest first."""
        conditions = equals(StfFileRow, namespace=namespace, execution_id=execution_id,
                            run_number=run_number, status=status)
        conditions += time_range(StfFileRow.created_at, start_time, end_time)
        async with self._db.session() as session:
            return await fetch_page(session, StfFileRow, StfFileRecord, conditions,
                                    (StfFileRow.created_at, StfFileRow.id), limit, cursor, "stf_files")

    def _insert_stf_files(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        stored = _insert_first_wins(self._db, conn, _STF, "filename", rows)
        return [StfFileRecord.model_validate(stored[r["filename"]]) for r in rows]

    def _update_stf_status(self, conn: Connection, changes: list[dict[str, Any]]) -> list[Any]:
        def shape(change: dict[str, Any]) -> tuple[bool, bool]:
            return change["b_size_bytes"] is not None, change["b_checksum"] is not None

        postgres = conn.dialect.name == "postgresql"
        returned: dict[str, Row[Any]] | None = {} if postgres else None
        for (size, checksum), group in groupby(changes, key=shape):  # in order: a later change wins
            rows = list(group)
            if returned is not None and len({r["b_filename"] for r in rows}) == len(rows):
                # PostgreSQL: one UPDATE over arrays that returns the rows it changed (no read-back)
                arrays = {column: [r[f"b_{column}"] for r in rows] for column in _STATUS_COLUMNS}
                returned.update((row.filename, row) for row in conn.execute(_status_unnest(size, checksum), arrays))
                continue
            execute_rows(conn, _status_statement(size, checksum), rows)
            returned = None  # a group applied row by row: read the rows back
        stored = returned if returned is not None else _stf_rows(conn, {c["b_filename"] for c in changes})
        return [StfFileRecord.model_validate(stored[c["b_filename"]]) if c["b_filename"] in stored
                else NotFound("STF file", c["b_filename"]) for c in changes]

    # -- TF samples --------------------------------------------------------------------------

    async def add_tf_sample(
        self,
        tf_filename: str,
        stf_filename: str,
        namespace: str,
        execution_id: str | None,
        run_number: int | None,
        tf_first: int,
        tf_last: int,
        tf_count: int,
    ) -> TfSampleRecord:
        """Register a TF sample of an STF file (idempotent on ``tf_filename``); returns the stored row."""
        if tf_last < tf_first:
            raise InvalidQuery("tf_last", f"{tf_last} is before tf_first {tf_first}")
        row = dict(tf_filename=tf_filename, stf_filename=stf_filename, namespace=namespace,
                   execution_id=execution_id, run_number=run_number, tf_first=tf_first, tf_last=tf_last,
                   tf_count=tf_count, created_at=utcnow())
        record: TfSampleRecord = await self._db.writer.submit(self._insert_tf_samples, row)
        return record

    async def list_tf_samples(
        self,
        namespace: str | None = None,
        execution_id: str | None = None,
        run_number: int | None = None,
        stf_filename: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[TfSampleRecord]:
        """TF samples, newest first."""
        conditions = equals(TfSampleRow, namespace=namespace, execution_id=execution_id,
                            run_number=run_number, stf_filename=stf_filename)
        async with self._db.session() as session:
            return await fetch_page(session, TfSampleRow, TfSampleRecord, conditions,
                                    (TfSampleRow.created_at, TfSampleRow.id), limit, cursor, "tf_samples")

    def _insert_tf_samples(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        stored = _insert_first_wins(self._db, conn, _SAMPLES, "tf_filename", rows)
        return [TfSampleRecord.model_validate(stored[r["tf_filename"]]) for r in rows]


def _insert_first_wins(db: Database, conn: Connection, table: Any, key: str, rows: list[dict[str, Any]]
                       ) -> dict[str, Row[Any]]:
    """Insert ``rows`` unless their ``key`` is stored; the stored row of every key. The new rows
    come back from the INSERT itself (``RETURNING``; SQLAlchemy sends the batch as one multi-row
    statement), so only keys that were already there cost a SELECT."""
    insert = db.insert(table).on_conflict_do_nothing(index_elements=[key]).returning(*table.c)
    stored = {row._mapping[key]: row for row in conn.execute(insert, rows)}
    missing = {r[key] for r in rows} - stored.keys()
    if missing:
        stored.update((row._mapping[key], row) for row in conn.execute(select(table).where(table.c[key].in_(missing))))
    return stored


def _stf_rows(conn: Connection, filenames: set[str]) -> dict[str, Row[Any]]:
    return {row.filename: row for row in conn.execute(select(_STF).where(_STF.c.filename.in_(filenames)))}


_STATUS_COLUMNS = {"filename": "VARCHAR", "status": "VARCHAR", "updated_at": "TIMESTAMPTZ", "size_bytes": "BIGINT",
                   "checksum": "VARCHAR"}


@lru_cache(maxsize=None)
def _status_unnest(size: bool, checksum: bool) -> Any:
    """PostgreSQL: :func:`_status_statement` for a group of changes to distinct files as ONE
    ``UPDATE ... FROM unnest(arrays) ... RETURNING``: the changed rows come back with it, where the
    executemany needed a ``SELECT`` after it (a round trip more per flush)."""
    sets = ["status = v.status", "updated_at = v.updated_at"]
    if size:
        sets.append("size_bytes = v.size_bytes")
    if checksum:
        sets.append("checksum = v.checksum")
    arrays = ", ".join(f"CAST(:{column} AS {kind}[])" for column, kind in _STATUS_COLUMNS.items())
    return text(
        f"UPDATE stf_files AS t SET {', '.join(sets)} FROM unnest({arrays}) "
        f"AS v({', '.join(_STATUS_COLUMNS)}) WHERE t.filename = v.filename "
        f"RETURNING {', '.join('t.' + c.name for c in _STF.c)}"
    ).columns(*_STF.c)


@lru_cache(maxsize=None)
def _status_statement(size: bool, checksum: bool) -> Any:
    """The UPDATE of one STF status change shape (whether it fills in size and checksum), built
    once per shape (``execute_rows`` keeps its plan by the statement's identity)."""
    table = _STF
    values: dict[str, Any] = {"status": bindparam("b_status"),
                              "updated_at": bindparam("b_updated_at", type_=table.c.updated_at.type)}
    if size:
        values["size_bytes"] = bindparam("b_size_bytes")
    if checksum:
        values["checksum"] = bindparam("b_checksum")
    return update(table).where(table.c.filename == bindparam("b_filename")).values(**values)
