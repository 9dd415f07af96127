"""TF slices: the work the fast-processing agent cuts samples into and books results of.

``add_slices`` (queue a sample's slices) and ``mark_slices`` (a flush of status changes and
results) go through the group-commit writer (:mod:`workflows.store.writer`): concurrent calls
share one transaction and each kind is one executemany, so a batch costs a few statements
however many slices it holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from workflows.store.counters import add_values, check_names
from workflows.store.database import Database
from workflows.store.errors import InvalidQuery, NotFound
from workflows.store.models import SliceRow
from workflows.store.paging import equals, fetch_page
from workflows.store.records import SLICE_STATUSES, Page, SliceIn, SliceMark, SliceRecord, SliceStatus
from workflows.store.stf_files import one_of
from workflows.store.timestamps import as_utc, utcnow
from workflows.store.writer import execute_rows

_Shape = tuple[str, bool, bool, bool, bool]
_SLICES = SliceRow.__table__
_SLICE_IN_COLUMNS = tuple(name for name in SliceIn.model_fields if name != "requested_at")
"""The columns a :class:`SliceIn` fills as they are (read by name: cheaper than ``model_dump``)."""


class Slices:
    """TF slices of every namespace (``store.runs`` has these methods).

    Example::

        new = await store.runs.add_slices([SliceIn(namespace="alice", tf_filename="tf.1", slice_id=0,
                                                   start=0, end=9, tf_count=10)])
        await store.runs.mark_slices([SliceMark(tf_filename="tf.1", slice_id=0, status="done", worker="w1")],
                                     {"slice_results_received:EXEC": 1})
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_slices(self, slices: Sequence[SliceIn]) -> int:
        """Queue slices; slices already stored are skipped. Returns how many were new."""
        if not slices:
            return 0
        now = utcnow()
        rows = [
            {**{name: getattr(s, name) for name in _SLICE_IN_COLUMNS}, "status": "queued", "retries": 0,
             "requested_at": as_utc(s.requested_at, "requested_at") if s.requested_at else now}
            for s in slices
        ]
        new: int = await self._db.writer.submit(self._insert_slices, rows)
        return new

    async def add_sample_slices(
        self,
        *,
        namespace: str,
        execution_id: str | None,
        run_number: int | None,
        tf_filename: str,
        ranges: Sequence[tuple[int, int, int]],
        requested_at: datetime | None = None,
    ) -> int:
        """Queue the slices of one TF sample: slice ``i`` covers ``ranges[i]`` = ``(start, end,
        tf_count)``. The same rows, the same write and the same answer as :meth:`add_slices` with
        one :class:`SliceIn` per range, without building those models (the fast processing
        agent queues every sample this way)."""
        if not ranges:
            return 0
        at = as_utc(requested_at, "requested_at") if requested_at is not None else utcnow()
        rows = []
        for index, (start, end, tf_count) in enumerate(ranges):
            if tf_count < 0:
                raise InvalidQuery(f"ranges[{index}].tf_count", f"must be >= 0, got {tf_count}")
            rows.append({"namespace": namespace, "execution_id": execution_id, "run_number": run_number,
                         "tf_filename": tf_filename, "slice_id": index, "start": start, "end": end,
                         "tf_count": tf_count, "status": "queued", "retries": 0, "requested_at": at})
        new: int = await self._db.writer.submit(self._insert_slices, rows)
        return new

    async def mark_slice(
        self,
        tf_filename: str,
        slice_id: int,
        status: SliceStatus,
        worker: str | None = None,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> SliceRecord:
        """Move a slice to ``status``.

        ``processing`` records the worker and ``processing_start_at``; ``done``/``failed`` record
        ``processed_at`` (and ``result``/``error``); back to ``queued`` counts a retry.
        """
        one_of("status", status, SLICE_STATUSES)
        when = as_utc(at, "at") if at is not None else utcnow()
        async with self._db.transaction() as session:
            row = await _slice(session, tf_filename, slice_id)
            if status == "queued" and row.status != "queued":
                row.retries += 1
                row.assigned_worker = None
            if status == "processing":
                row.processing_start_at = when
            if status in ("done", "failed"):
                row.processed_at = when
            if worker is not None:
                row.assigned_worker = worker
            if error is not None:
                row.error = error
            if result is not None:
                row.result = result
            row.status = status
            await session.flush()
            return SliceRecord.model_validate(row)

    async def mark_slices(self, batch: Sequence[SliceMark], counts: Mapping[str, int] | None = None) -> int:
        """Apply a batch of slice status changes, in order, in one transaction; returns how many
        were applied.

        Each mark means what :meth:`mark_slice` means (a ``queued`` mark counts a retry when the
        slice was not queued). Consecutive marks of the same shape go in one executemany, so a
        batch of results costs a few statements, not one transaction per slice. A mark for a
        slice that is not stored is skipped (it is not counted); the rest are applied. ``counts``
        are added to named counters in the same transaction (e.g. the results received).
        """
        if not batch and not counts:
            return 0
        params: list[tuple[_Shape, dict[str, Any]]] = []
        now = utcnow()
        for index, mark in enumerate(batch):
            one_of(f"batch[{index}].status", mark.status, SLICE_STATUSES)
            when = as_utc(mark.at, f"batch[{index}].at") if mark.at is not None else now
            started = (as_utc(mark.processing_start_at, f"batch[{index}].processing_start_at")
                       if mark.processing_start_at is not None else None)
            if started is None and mark.status == "processing":
                started = when
            shape = (mark.status, mark.worker is not None, mark.error is not None, mark.result is not None,
                     started is not None)
            params.append((shape, {"b_tf": mark.tf_filename, "b_slice": mark.slice_id, "b_at": when,
                                   "b_started": started, "b_worker": mark.worker, "b_error": mark.error,
                                   "b_result": mark.result}))
        if counts:
            check_names(counts)
        applied: int = await self._db.writer.submit(self._apply_marks, (params, dict(counts or {})))
        return applied

    async def get_slice(self, tf_filename: str, slice_id: int) -> SliceRecord:
        """Slice ``slice_id`` of ``tf_filename``; NotFound when there is none."""
        async with self._db.session() as session:
            return SliceRecord.model_validate(await _slice(session, tf_filename, slice_id))

    async def list_slices(
        self,
        namespace: str | None = None,
        execution_id: str | None = None,
        run_number: int | None = None,
        tf_filename: str | None = None,
        status: SliceStatus | None = None,
        worker: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[SliceRecord]:
        """Slices, most recently requested first."""
        conditions = equals(SliceRow, namespace=namespace, execution_id=execution_id,
                            run_number=run_number, tf_filename=tf_filename, status=status,
                            assigned_worker=worker)
        async with self._db.session() as session:
            return await fetch_page(session, SliceRow, SliceRecord, conditions,
                                    (SliceRow.requested_at, SliceRow.id), limit, cursor, "slices")

    async def slice_counts(self, execution_id: str) -> dict[str, int]:
        """``{status: count}`` of the execution's slices, every status present."""
        stmt = (select(SliceRow.status, func.count()).where(SliceRow.execution_id == execution_id)
                .group_by(SliceRow.status))
        async with self._db.session() as session:
            found = {status: int(n) for status, n in (await session.execute(stmt)).all()}
        return {status: found.get(status, 0) for status in SLICE_STATUSES}

    # -- batch functions of the writer ---------------------------------------------------------

    def _insert_slices(self, conn: Connection, batches: list[list[dict[str, Any]]]) -> list[Any]:
        """One INSERT ... ON CONFLICT DO NOTHING for every call's slices (on PostgreSQL one
        statement over arrays, ``INSERT ... SELECT FROM unnest``, not a row at a time); each call is
        told how many of its slices were new (a slice two calls queue counts for the first). One
        call alone is told the INSERT's row count where the driver reports it for an executemany
        (SQLite)."""
        insert = _insert_statement(conn.dialect.name)
        if len(batches) == 1 and conn.dialect.supports_sane_multi_rowcount:
            return [execute_rows(conn, insert, batches[0])]
        stored = _stored_keys(conn, {r["tf_filename"] for rows in batches for r in rows})
        new_counts: list[Any] = []
        for rows in batches:
            keys = {(r["tf_filename"], r["slice_id"]) for r in rows} - stored
            stored |= keys
            new_counts.append(len(keys))
        every = [r for rows in batches for r in rows]
        if conn.dialect.name == "postgresql":
            conn.execute(_INSERT_UNNEST, {column: [r[column] for r in every] for column in _INSERT_COLUMNS})
        else:
            execute_rows(conn, insert, every)
        return new_counts

    def _apply_marks(
        self, conn: Connection, items: list[tuple[list[tuple[_Shape, dict[str, Any]]], dict[str, int]]]
    ) -> list[Any]:
        """Every call's marks in order (consecutive marks of one shape in one executemany; on
        PostgreSQL, when they are of distinct slices, in one ``UPDATE ... FROM unnest``) and the
        sum of their counters; each call is told how many of its marks were applied. A mark whose
        slice is not stored matches no row; only when the row counts say some mark missed (or the
        driver does not count an executemany) are the stored slices read to tell which."""
        totals: Counter[str] = Counter()
        for _params, counts in items:
            totals.update(counts)
        if totals:
            add_values(self._db, conn, totals)
        matched = 0
        exact = True  # every statement's row count is known
        postgres = conn.dialect.name == "postgresql"
        for shape, group in groupby((mark for params, _counts in items for mark in params), key=lambda item: item[0]):
            rows = [p for _, p in group]
            if postgres and len(rows) > 1 and len({(p["b_tf"], p["b_slice"]) for p in rows}) == len(rows):
                matched += conn.execute(_mark_statement_unnest(*shape), _as_arrays(rows)).rowcount
                continue
            if len(rows) > 1 and not conn.dialect.supports_sane_multi_rowcount:
                exact = False  # the driver does not count an executemany (asyncpg)
            matched += max(execute_rows(conn, _mark_statement(*shape), rows), 0)
        total = sum(len(params) for params, _counts in items)
        if exact and matched == total:
            return [len(params) for params, _counts in items]
        names = {p["b_tf"] for params, _counts in items for _shape, p in params}
        stored = _stored_keys(conn, names) if names else set()
        return [sum((p["b_tf"], p["b_slice"]) in stored for _shape, p in params) for params, _counts in items]


def _stored_keys(conn: Connection, tf_filenames: set[str]) -> set[tuple[str, int]]:
    keys = select(_SLICES.c.tf_filename, _SLICES.c.slice_id).where(_SLICES.c.tf_filename.in_(tf_filenames))
    rows = conn.execute(keys)
    return {(tf, slice_id) for tf, slice_id in rows.all()}


async def _slice(session: Any, tf_filename: str, slice_id: int) -> SliceRow:
    row = await session.scalar(
        select(SliceRow).where(SliceRow.tf_filename == tf_filename, SliceRow.slice_id == slice_id)
    )
    if row is None:
        raise NotFound("TF slice", f"{tf_filename}#{slice_id}")
    return row


def _as_arrays(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """A group of marks as one array per column (``_mark_statement_unnest``); the result as JSON text."""
    return {"a_tf": [p["b_tf"] for p in rows], "a_slice": [p["b_slice"] for p in rows],
            "a_at": [p["b_at"] for p in rows], "a_started": [p["b_started"] for p in rows],
            "a_worker": [p["b_worker"] for p in rows], "a_error": [p["b_error"] for p in rows],
            "a_result": [json.dumps(p["b_result"]) if p["b_result"] is not None else None for p in rows]}


@lru_cache(maxsize=64)
def _mark_statement_unnest(status: str, worker: bool, error: bool, result: bool, started: bool) -> Any:
    """PostgreSQL: :func:`_mark_statement` for a whole group of marks (distinct slices) as ONE
    ``UPDATE ... FROM unnest(arrays)``: one statement for the server to plan and an exact row
    count, where an executemany runs the UPDATE once per row and reports no count. The ``SET``
    clause is the same as the per-row statement's (and reads the row's values before the update,
    as each per-row UPDATE did)."""
    sets = [f"status = '{status}'"]  # a validated SLICE_STATUSES value (mark_slices checks it)
    assigned = None
    if status == "queued":
        sets.append("retries = CASE WHEN t.status != 'queued' THEN t.retries + 1 ELSE t.retries END")
        assigned = "CASE WHEN t.status != 'queued' THEN NULL ELSE t.assigned_worker END"
    if status in ("done", "failed"):
        sets.append("processed_at = v.at")
    if started:
        sets.append("processing_start_at = v.started")
    if worker:
        assigned = "v.worker"
    if assigned is not None:
        sets.append(f"assigned_worker = {assigned}")
    if error:
        sets.append("error = v.error")
    if result:
        sets.append("result = CAST(v.result AS JSONB)")
    return text(
        f"UPDATE tf_slices AS t SET {', '.join(sets)} "
        "FROM unnest(CAST(:a_tf AS VARCHAR[]), CAST(:a_slice AS INTEGER[]), CAST(:a_at AS TIMESTAMPTZ[]), "
        "CAST(:a_started AS TIMESTAMPTZ[]), CAST(:a_worker AS VARCHAR[]), CAST(:a_error AS TEXT[]), "
        "CAST(:a_result AS TEXT[])) AS v(tf, slice, at, started, worker, error, result) "
        "WHERE t.tf_filename = v.tf AND t.slice_id = v.slice"
    )


_INSERT_COLUMNS = {"namespace": "VARCHAR", "execution_id": "VARCHAR", "run_number": "INTEGER",
                   "tf_filename": "VARCHAR", "slice_id": "INTEGER", "start": "INTEGER", "end": "INTEGER",
                   "tf_count": "INTEGER", "status": "VARCHAR", "retries": "INTEGER", "requested_at": "TIMESTAMPTZ"}
"""The columns a queued slice fills (the rows of ``add_slices`` and ``add_sample_slices``) and
their PostgreSQL types for :data:`_INSERT_UNNEST`."""
_INSERT_UNNEST = text(
    "INSERT INTO tf_slices (" + ", ".join('"' + column + '"' for column in _INSERT_COLUMNS) + ") "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{c} AS {t}[])' for c, t in _INSERT_COLUMNS.items())}) "
    "ON CONFLICT (tf_filename, slice_id) DO NOTHING"
)
"""PostgreSQL: the slices of a flush as one INSERT over arrays (one statement for the server,
where an executemany inserts a row at a time)."""


@lru_cache(maxsize=None)
def _insert_statement(dialect: str) -> Any:
    """The slices' ``INSERT ... ON CONFLICT DO NOTHING``, built once per dialect (``execute_rows``
    keeps its plan by the statement's identity)."""
    insert = sqlite.insert(_SLICES) if dialect == "sqlite" else postgresql.insert(_SLICES)
    return insert.on_conflict_do_nothing(index_elements=["tf_filename", "slice_id"])


@lru_cache(maxsize=64)
def _mark_statement(status: str, worker: bool, error: bool, result: bool, started: bool) -> Any:
    """The UPDATE for one shape of :class:`SliceMark` (which optional values it carries), built
    once per shape."""
    table = _SLICES
    values: dict[str, Any] = {"status": status}
    if status == "queued":
        leaving = table.c.status != "queued"
        values["retries"] = case((leaving, table.c.retries + 1), else_=table.c.retries)
        values["assigned_worker"] = case((leaving, None), else_=table.c.assigned_worker)
    if status in ("done", "failed"):
        values["processed_at"] = bindparam("b_at", type_=table.c.processed_at.type)
    if started:
        values["processing_start_at"] = bindparam("b_started", type_=table.c.processing_start_at.type)
    if worker:
        values["assigned_worker"] = bindparam("b_worker", type_=table.c.assigned_worker.type)
    if error:
        values["error"] = bindparam("b_error", type_=table.c.error.type)
    if result:
        values["result"] = bindparam("b_result", type_=table.c.result.type)
    return (
        update(table)
        .where(table.c.tf_filename == bindparam("b_tf"), table.c.slice_id == bindparam("b_slice"))
        .values(**values)
    )
