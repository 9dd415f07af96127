"""Runs: run numbers, the run rows the workflow runner opens and closes, workers and the live
run states; with :class:`StfFiles` and :class:`Slices`, ``store.runs`` is every repository of
what a run produces (each job in its own module: ``stf_files.py``, ``slices.py``).

Writes that agents repeat when a bus message is redelivered (``start_run``, ``add_stf``,
``add_tf_sample``, ``add_slices``) are idempotent: the first row wins and the call returns it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from workflows.store.counters import next_value
from workflows.store.database import Database
from workflows.store.errors import NotFound
from workflows.store.models import RunRow, RunStateRow, WorkerRow
from workflows.store.paging import equals, fetch_page, time_range
from workflows.store.records import Page, RunRecord, RunStateRecord, RunStatus, WorkerRecord
from workflows.store.slices import Slices
from workflows.store.stf_files import StfFiles
from workflows.store.timestamps import as_utc, utcnow

FIRST_RUN_NUMBER = 100010
RUN_COUNTER = "run_number"


class Runs(StfFiles, Slices):
    """Runs, workers and run states of every namespace; STF files, TF samples
    (:class:`StfFiles`) and slices (:class:`Slices`) through the same object.

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
        record: RunStateRecord = await self._db.writer.submit(self._upsert_run_states,
                                                              {"run_number": run_number, **values})
        return record

    async def get_run_state(self, run_number: int) -> RunStateRecord:
        """The live summary of run ``run_number``; NotFound when none was written."""
        async with self._db.session() as session:
            row = await session.get(RunStateRow, run_number)
        if row is None:
            raise NotFound("run state", run_number)
        return RunStateRecord.model_validate(row)

    def _upsert_run_states(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Any]:
        """The writer's batch function: one upsert executemany (a later summary of a run wins). The
        summary replaces every column, so each caller's record is the row it wrote."""
        table = RunStateRow.__table__
        insert = self._db.insert(table)
        columns = [name for name in rows[0] if name != "run_number"]
        conn.execute(insert.on_conflict_do_update(
            index_elements=["run_number"], set_={name: insert.excluded[name] for name in columns}), rows)
        return [RunStateRecord.model_validate(row) for row in rows]
