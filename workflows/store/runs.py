"""Runs and what a run produces: STF files, TF samples, TF slices, workers and run states.

Writes that agents repeat when a bus message is redelivered (``add_stf``, ``add_tf_sample``,
``add_slices``) are idempotent: the first row wins and the call returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import bindparam, case, func, select, update

from workflows.store.counters import add_values, next_value
from workflows.store.database import Database
from workflows.store.errors import InvalidQuery, NotFound
from workflows.store.models import RunRow, RunStateRow, SliceRow, StfFileRow, TfSampleRow, WorkerRow
from workflows.store.paging import equals, fetch_page, time_range
from workflows.store.records import (
    SLICE_STATUSES,
    Page,
    RunRecord,
    RunStateRecord,
    RunStatus,
    SliceIn,
    SliceMark,
    SliceRecord,
    SliceStatus,
    StfFileRecord,
    StfStatus,
    TfSampleRecord,
    WorkerRecord,
)
from workflows.store.timestamps import as_utc, utcnow

FIRST_RUN_NUMBER = 100010
RUN_COUNTER = "run_number"
_STF_STATUSES = ("registered", "ready", "processed", "failed")


def _one_of(field: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidQuery(field, f"unknown value {value!r}; use one of {', '.join(allowed)}")


class Runs:
    """Runs, STF files, TF samples, slices, workers and run states of every namespace.

    Example::

        number = await store.runs.allocate_run_number()          # 100010, 100011, ...
        await store.runs.start_run(number, "alice", execution_id)
        await store.runs.add_stf("swf.100010.000001.stf", "alice", execution_id, number, 1)
        await store.runs.end_run(number, total_stf_files=1)
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- runs --------------------------------------------------------------------------------

    async def allocate_run_number(self) -> int:
        """The next run number (global, from 100010)."""
        async with self._db.transaction() as session:
            return await next_value(self._db, session, RUN_COUNTER, FIRST_RUN_NUMBER)

    async def start_run(
        self,
        run_number: int,
        namespace: str,
        execution_id: str | None = None,
        state: str = "run",
        substate: str | None = "physics",
        start_time: datetime | None = None,
    ) -> RunRecord:
        """Record run ``run_number`` as running (again, if a redelivered start_run repeats it)."""
        values = dict(namespace=namespace, execution_id=execution_id, state=state, substate=substate,
                      status="running", start_time=as_utc(start_time, "start_time") if start_time else utcnow())
        async with self._db.transaction() as session:
            await session.execute(
                self._db.insert(RunRow).values(run_number=run_number, **values)
                .on_conflict_do_nothing(index_elements=["run_number"])
            )
            return RunRecord.model_validate(await self._run(session, run_number))

    async def update_run_state(self, run_number: int, state: str, substate: str | None = None) -> RunRecord:
        """Set the DAQ state/substate of a run (e.g. run/standby on pause)."""
        async with self._db.transaction() as session:
            row = await self._run(session, run_number)
            row.state, row.substate = state, substate
            await session.flush()
            return RunRecord.model_validate(row)

    async def end_run(self, run_number: int, total_stf_files: int | None = None) -> RunRecord:
        """Mark the run ended with its STF total; ending an ended run keeps the first end_time."""
        async with self._db.transaction() as session:
            row = await self._run(session, run_number)
            row.status = "ended"
            if row.end_time is None:
                row.end_time = utcnow()
            if total_stf_files is not None:
                row.total_stf_files = total_stf_files
            await session.flush()
            return RunRecord.model_validate(row)

    async def get_run(self, run_number: int) -> RunRecord:
        """Run ``run_number``; NotFound when there is none."""
        async with self._db.session() as session:
            return RunRecord.model_validate(await self._run(session, run_number))

    async def list_runs(
        self,
        namespace: str | None = None,
        execution_id: str | None = None,
        status: RunStatus | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[RunRecord]:
        """Runs, highest run number first."""
        conditions = equals(RunRow, namespace=namespace, execution_id=execution_id, status=status)
        conditions += time_range(RunRow.start_time, start_time, end_time)
        async with self._db.session() as session:
            return await fetch_page(session, RunRow, RunRecord, conditions, (RunRow.run_number,),
                                    limit, cursor, "runs")

    @staticmethod
    async def _run(session: Any, run_number: int) -> RunRow:
        row = await session.get(RunRow, run_number)
        if row is None:
            raise NotFound("run", run_number)
        return row

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
        """Register an STF file (idempotent on ``filename``)."""
        _one_of("status", status, _STF_STATUSES)
        now = utcnow()
        async with self._db.transaction() as session:
            await session.execute(
                self._db.insert(StfFileRow)
                .values(filename=filename, namespace=namespace, execution_id=execution_id,
                        run_number=run_number, sequence=sequence, size_bytes=size_bytes,
                        checksum=checksum, status=status, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["filename"])
            )
            return StfFileRecord.model_validate(await self._stf(session, filename))

    async def set_stf_status(
        self, filename: str, status: StfStatus, size_bytes: int | None = None, checksum: str | None = None
    ) -> StfFileRecord:
        """Move an STF file to ``status`` (and fill in size/checksum when known)."""
        _one_of("status", status, _STF_STATUSES)
        async with self._db.transaction() as session:
            row = await self._stf(session, filename)
            row.status = status
            row.updated_at = utcnow()
            if size_bytes is not None:
                row.size_bytes = size_bytes
            if checksum is not None:
                row.checksum = checksum
            await session.flush()
            return StfFileRecord.model_validate(row)

    async def get_stf(self, filename: str) -> StfFileRecord:
        """STF file ``filename``; NotFound when there is none."""
        async with self._db.session() as session:
            return StfFileRecord.model_validate(await self._stf(session, filename))

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

    @staticmethod
    async def _stf(session: Any, filename: str) -> StfFileRow:
        row = await session.scalar(select(StfFileRow).where(StfFileRow.filename == filename))
        if row is None:
            raise NotFound("STF file", filename)
        return row

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
        """Register a TF sample of an STF file (idempotent on ``tf_filename``)."""
        if tf_last < tf_first:
            raise InvalidQuery("tf_last", f"{tf_last} is before tf_first {tf_first}")
        async with self._db.transaction() as session:
            await session.execute(
                self._db.insert(TfSampleRow)
                .values(tf_filename=tf_filename, stf_filename=stf_filename, namespace=namespace,
                        execution_id=execution_id, run_number=run_number, tf_first=tf_first,
                        tf_last=tf_last, tf_count=tf_count, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["tf_filename"])
            )
            row = await session.scalar(select(TfSampleRow).where(TfSampleRow.tf_filename == tf_filename))
            return TfSampleRecord.model_validate(row)

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

    # -- slices ------------------------------------------------------------------------------

    async def add_slices(self, slices: Sequence[SliceIn]) -> int:
        """Queue slices in one statement; slices already stored are skipped. Returns how many were new."""
        if not slices:
            return 0
        now = utcnow()
        rows = [
            {**s.model_dump(exclude={"requested_at"}), "status": "queued", "retries": 0,
             "requested_at": as_utc(s.requested_at, "requested_at") if s.requested_at else now}
            for s in slices
        ]
        async with self._db.transaction() as session:
            before = await session.scalar(select(func.count()).select_from(SliceRow).where(
                SliceRow.tf_filename.in_({r["tf_filename"] for r in rows})))
            await session.execute(
                self._db.insert(SliceRow).on_conflict_do_nothing(index_elements=["tf_filename", "slice_id"]),
                rows,
            )
            after = await session.scalar(select(func.count()).select_from(SliceRow).where(
                SliceRow.tf_filename.in_({r["tf_filename"] for r in rows})))
            return int(after or 0) - int(before or 0)

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
        _one_of("status", status, SLICE_STATUSES)
        when = as_utc(at, "at") if at is not None else utcnow()
        async with self._db.transaction() as session:
            row = await self._slice(session, tf_filename, slice_id)
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
        """Apply a batch of slice status changes in one transaction, in order; returns how many
        were applied.

        Each mark means what :meth:`mark_slice` means (a ``queued`` mark counts a retry when the
        slice was not queued). Consecutive marks of the same shape go in one executemany, so a
        batch of results costs a few statements, not one transaction per slice. A mark for a
        slice that is not stored is skipped (it is not counted); the rest are applied. ``counts``
        are added to named counters in the same transaction (e.g. the results received).
        """
        if not batch and not counts:
            return 0
        params: list[tuple[tuple[str, bool, bool, bool, bool], dict[str, Any]]] = []
        now = utcnow()
        for index, mark in enumerate(batch):
            _one_of(f"batch[{index}].status", mark.status, SLICE_STATUSES)
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
        async with self._db.transaction() as session:
            if counts:
                await add_values(self._db, session, counts)
            if not params:
                return 0
            stored = {
                (tf, sid) for tf, sid in (await session.execute(
                    select(SliceRow.tf_filename, SliceRow.slice_id)
                    .where(SliceRow.tf_filename.in_({p["b_tf"] for _, p in params}))
                )).all()
            }
            applied = [(shape, p) for shape, p in params if (p["b_tf"], p["b_slice"]) in stored]
            for shape, group in groupby(applied, key=lambda item: item[0]):
                await session.execute(_mark_statement(*shape), [p for _, p in group])
        return len(applied)

    async def get_slice(self, tf_filename: str, slice_id: int) -> SliceRecord:
        """Slice ``slice_id`` of ``tf_filename``; NotFound when there is none."""
        async with self._db.session() as session:
            return SliceRecord.model_validate(await self._slice(session, tf_filename, slice_id))

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

    @staticmethod
    async def _slice(session: Any, tf_filename: str, slice_id: int) -> SliceRow:
        row = await session.scalar(
            select(SliceRow).where(SliceRow.tf_filename == tf_filename, SliceRow.slice_id == slice_id)
        )
        if row is None:
            raise NotFound("TF slice", f"{tf_filename}#{slice_id}")
        return row

    # -- workers -----------------------------------------------------------------------------

    async def upsert_worker(
        self,
        name: str,
        namespace: str,
        status: str,
        execution_id: str | None = None,
        hostname: str | None = None,
        slices_done: int | None = None,
        slices_failed: int | None = None,
    ) -> WorkerRecord:
        """Create or update worker ``name``; ``stopped``/``failed`` set stopped_at."""
        now = utcnow()
        changes: dict[str, Any] = {"status": status}
        for key, value in (("execution_id", execution_id), ("hostname", hostname),
                           ("slices_done", slices_done), ("slices_failed", slices_failed)):
            if value is not None:
                changes[key] = value
        if status in ("stopped", "failed", "exited"):
            changes["stopped_at"] = now
        insert = self._db.insert(WorkerRow).values(
            name=name, namespace=namespace, started_at=now, slices_done=slices_done or 0,
            slices_failed=slices_failed or 0, execution_id=execution_id, hostname=hostname,
            status=status, stopped_at=changes.get("stopped_at"),
        )
        async with self._db.transaction() as session:
            await session.execute(insert.on_conflict_do_update(index_elements=["name"], set_=changes))
            row = await session.get(WorkerRow, name, populate_existing=True)
            return WorkerRecord.model_validate(row)

    async def list_workers(
        self,
        namespace: str | None = None,
        execution_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[WorkerRecord]:
        """Workers, most recently started first."""
        conditions = equals(WorkerRow, namespace=namespace, execution_id=execution_id, status=status)
        async with self._db.session() as session:
            return await fetch_page(session, WorkerRow, WorkerRecord, conditions,
                                    (WorkerRow.started_at, WorkerRow.name), limit, cursor, "workers")

    # -- run states --------------------------------------------------------------------------

    async def upsert_run_state(
        self,
        run_number: int,
        namespace: str,
        phase: str | None = None,
        workers_active: int = 0,
        workers_target: int = 0,
        slices_queued: int = 0,
        slices_processing: int = 0,
        slices_done: int = 0,
        slices_failed: int = 0,
        latency_p50_ms: float | None = None,
        latency_p99_ms: float | None = None,
    ) -> RunStateRecord:
        """Replace the live summary of run ``run_number`` (worker counts, slice counts, latency)."""
        values: dict[str, Any] = dict(
            namespace=namespace, phase=phase, workers_active=workers_active,
            workers_target=workers_target, slices_queued=slices_queued,
            slices_processing=slices_processing, slices_done=slices_done,
            slices_failed=slices_failed, latency_p50_ms=latency_p50_ms,
            latency_p99_ms=latency_p99_ms, updated_at=utcnow(),
        )
        async with self._db.transaction() as session:
            await session.execute(
                self._db.insert(RunStateRow).values(run_number=run_number, **values)
                .on_conflict_do_update(index_elements=["run_number"], set_=values)
            )
            row = await session.get(RunStateRow, run_number, populate_existing=True)
            return RunStateRecord.model_validate(row)

    async def get_run_state(self, run_number: int) -> RunStateRecord:
        """The live summary of run ``run_number``; NotFound when none was written."""
        async with self._db.session() as session:
            row = await session.get(RunStateRow, run_number)
        if row is None:
            raise NotFound("run state", run_number)
        return RunStateRecord.model_validate(row)



def _mark_statement(status: str, worker: bool, error: bool, result: bool, started: bool) -> Any:
    """The UPDATE for one shape of :class:`SliceMark` (which optional values it carries)."""
    table = SliceRow.__table__
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
