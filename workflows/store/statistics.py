"""The characterization of one execution, computed in SQL from its stored rows (bounded output).

What the node's ``get_execution_statistics`` tool returns, the numbers ``pegasus-statistics``
gives Pegasus users:

* slices (``tf_slices``): latency (``processed_at - requested_at``) p50/p90/p99 and a histogram
  over fixed log-spaced bins (`LATENCY_EDGES_MS`), queue wait (``processing_start_at -
  requested_at``) and processing time (``processed_at - processing_start_at``), counts by
  status, retries, the slices finished over time;
* per worker (the slice's ``assigned_worker``, the one that last held it): slices, done, failed,
  retries, processing time total and mean, at most `MAX_WORKERS` (the busiest);
* time per DAQ phase (``system_state_events``: each state lasts until the next event, the last
  until the execution's end);
* the STF count and median cadence, throughput (slices done per second of the execution), the
  WARNING-or-worse log lines and agent restarts (as ``get_execution_timeline``'s metrics count them);
* task workflows: wall time vs. summed task compute and per worker tasks and compute (the
  ``task_workflow_summary`` message; a run before it carried ``workers`` has none), the retried
  tasks (their messages).

The records (``ExecutionStatistics`` and its parts) are in :mod:`workflows.store.records`.
Percentiles are nearest-rank (as the fast-processing agent's), one ``ORDER BY ... OFFSET``
query each, so both SQLite and PostgreSQL compute them without reading the rows out.

Example::

    stats = await store.statistics.of_execution("stf_datataking-alice-0001")
    stats.latency.p99_ms, [(b.low_ms, b.count) for b in stats.latency_histogram]
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, case, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from workflows.store.database import Database
from workflows.store.errors import NotFound
from workflows.store.models import ExecutionRow, LogRow, MessageRow, SliceRow, StateEventRow, StfFileRow
from workflows.store.records import (
    COMPLETION_BINS, MAX_WORKERS, ExecutionStatistics, HistogramBin, Quantiles, TaskTotals, TaskWorker, WorkerTime,
)
from workflows.store.timestamps import UTCDateTime, utcnow

__all__ = ["COMPLETION_BINS", "LATENCY_EDGES_MS", "MAX_WORKERS", "Statistics"]

LATENCY_EDGES_MS: tuple[float, ...] = tuple(float(f"{10 ** (k / 5):.3g}") for k in range(31))
"""Upper edges of the latency histogram's bins: five per decade (1, 1.58, 2.51, 3.98, 6.31, 10, ...
ms, to 1,000 s), three significant digits; a first bin below 1 ms and a last one above hold the rest."""
SUMMARY_MESSAGE = "task_workflow_summary"
LOGS_BEFORE = timedelta(minutes=2)  # the window get_execution_timeline reads an execution's log lines in
LOGS_AFTER = timedelta(minutes=1)


class Statistics:
    """Characterization queries (``store.statistics``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_execution(self, execution_id: str) -> ExecutionStatistics:
        """The statistics of ``execution_id``; NotFound when it is not stored."""
        async with self._db.session() as session:
            row = await session.get(ExecutionRow, execution_id)
            if row is None:
                raise NotFound("execution", execution_id)
            end = row.end_time or utcnow()
            seconds = _Seconds(self._db.dialect)
            latency = seconds(SliceRow.processed_at, SliceRow.requested_at)
            wait = seconds(SliceRow.processing_start_at, SliceRow.requested_at)
            work = seconds(SliceRow.processed_at, SliceRow.processing_start_at)
            mine = SliceRow.execution_id == execution_id
            counts = {s: int(n) for s, n in (await session.execute(
                select(SliceRow.status, func.count()).where(mine).group_by(SliceRow.status))).all()}
            retries = int(await session.scalar(select(func.coalesce(func.sum(SliceRow.retries), 0)).where(mine)) or 0)
            workers, workers_total = await _workers(session, mine, work, seconds)
            width, completions = await _completions(session, mine, seconds, self._db.dialect)
            duration = round((end - row.start_time).total_seconds(), 3)
            warnings, restarts = await _log_counts(session, row)
            return ExecutionStatistics(
                execution_id=execution_id, namespace=row.namespace, status=row.status, workflow_name=row.workflow_name,
                duration_s=duration, stf_count=row.stf_count,
                stf_interval_s=await _stf_interval(session, execution_id, seconds),
                slices_per_s=round(counts["done"] / duration, 3) if counts.get("done") and duration > 0 else None,
                warnings=warnings, agent_restarts=restarts,
                phases=await _phases(session, execution_id, end, seconds), slices=counts, retries=retries,
                latency=await _quantiles(session, latency, (mine, SliceRow.processed_at.is_not(None)), (0.5, 0.9, 0.99)),
                latency_histogram=await _histogram(session, latency, mine),
                queue_wait=await _quantiles(session, wait, (mine, SliceRow.processing_start_at.is_not(None)), (0.5, 0.99)),
                processing=await _quantiles(session, work, (mine, SliceRow.processed_at.is_not(None),
                                                            SliceRow.processing_start_at.is_not(None)), (0.5, 0.99)),
                workers=workers, workers_total=workers_total, completion_bin_s=width, completions=completions,
                tasks=await _tasks(session, execution_id))


class _Seconds:
    """``later - earlier`` in seconds, as a SQL expression of the dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def __call__(self, later: Any, earlier: Any) -> Any:
        if self.dialect == "postgresql":
            return cast(func.extract("epoch", later - earlier), Float)
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (julianday() would round to milliseconds):
        # whole seconds by strftime('%s'), the microseconds from the text
        whole = cast(func.strftime("%s", later), Integer) - cast(func.strftime("%s", earlier), Integer)
        return whole + (cast(func.substr(later, 20), Float) - cast(func.substr(earlier, 20), Float))


def _ms(value: Any) -> float | None:
    return None if value is None else round(float(value) * 1000.0, 3)


async def _quantiles(session: AsyncSession, expr: Any, where: tuple[Any, ...], fractions: tuple[float, ...]) -> Quantiles:
    count, mean, most = (await session.execute(select(func.count(), func.avg(expr), func.max(expr)).where(*where))).one()
    count = int(count)
    found: dict[str, float | None] = {}
    for fraction in fractions:
        value = None
        if count:
            rank = min(count - 1, max(0, math.ceil(fraction * count) - 1))
            value = await session.scalar(select(expr).where(*where).order_by(expr).offset(rank).limit(1))
        found[f"p{round(fraction * 100)}_ms"] = _ms(value)
    return Quantiles(count=count, mean_ms=_ms(mean), max_ms=_ms(most), **found)


async def _stf_interval(session: AsyncSession, execution_id: str, seconds: _Seconds) -> float | None:
    """The median gap between consecutive STF files (the mean of the two middle gaps when even)."""
    stf = StfFileRow
    before = func.lag(stf.created_at).over(order_by=(stf.created_at, stf.id))
    ordered = select(stf.created_at.label("at"), before.label("before")).where(stf.execution_id == execution_id).subquery()
    gap = seconds(ordered.c.at, ordered.c.before)
    where = ordered.c.before.is_not(None)
    count = int(await session.scalar(select(func.count()).select_from(ordered).where(where)) or 0)
    if not count:
        return None
    middle = (await session.scalars(select(gap).where(where).order_by(gap).offset((count - 1) // 2)
                                    .limit(2 - count % 2))).all()
    return round(sum(float(v) for v in middle) / len(middle), 4)


async def _log_counts(session: AsyncSession, row: ExecutionRow) -> tuple[int, int]:
    """WARNING-or-worse log lines of the execution (or of its namespace with no execution, e.g. the
    supervisor's) from 2 minutes before its start to 1 minute after its end, and the agent
    restarts among them: what get_execution_timeline's metrics count."""
    where = [LogRow.namespace == row.namespace, LogRow.level >= 30, LogRow.created_at >= row.start_time - LOGS_BEFORE,
             or_(LogRow.execution_id.is_(None), LogRow.execution_id == row.execution_id)]
    if row.end_time is not None:
        where.append(LogRow.created_at <= row.end_time + LOGS_AFTER)
    found, restarts = (await session.execute(select(
        func.count(), func.coalesce(func.sum(case((LogRow.message.like("%; restart %"), 1), else_=0)), 0)
    ).where(*where))).one()
    return int(found), int(restarts)


async def _histogram(session: AsyncSession, latency: Any, mine: Any) -> list[HistogramBin]:
    millis = latency * 1000.0
    index = case(*((millis < edge, i) for i, edge in enumerate(LATENCY_EDGES_MS)), else_=len(LATENCY_EDGES_MS))
    binned = select(index.label("bin")).where(mine, SliceRow.processed_at.is_not(None)).subquery()
    counts = {int(b): int(n) for b, n in
              (await session.execute(select(binned.c.bin, func.count()).group_by(binned.c.bin))).all()}
    if not counts:
        return []
    lows = (0.0, *LATENCY_EDGES_MS)
    highs: tuple[float | None, ...] = (*LATENCY_EDGES_MS, None)
    return [HistogramBin(low_ms=lows[i], high_ms=highs[i], count=counts.get(i, 0))
            for i in range(min(counts), max(counts) + 1)]


async def _workers(session: AsyncSession, mine: Any, work: Any, seconds: _Seconds) -> tuple[list[WorkerTime], int]:
    total = int(await session.scalar(select(func.count(func.distinct(SliceRow.assigned_worker))).where(mine)) or 0)
    busy = func.coalesce(func.sum(work), 0.0)
    stmt = (select(SliceRow.assigned_worker, func.count(), func.sum(case((SliceRow.status == "done", 1), else_=0)),
                   func.sum(case((SliceRow.status == "failed", 1), else_=0)), func.sum(SliceRow.retries),
                   busy, func.avg(work), func.min(SliceRow.processing_start_at), func.max(SliceRow.processed_at))
            .where(mine, SliceRow.assigned_worker.is_not(None)).group_by(SliceRow.assigned_worker)
            .order_by(busy.desc(), SliceRow.assigned_worker).limit(MAX_WORKERS))
    out = []
    for worker, n, done, failed, retries, summed, mean, first, last in (await session.execute(stmt)).all():
        span = _aware(last) - _aware(first) if first is not None and last is not None else None
        out.append(WorkerTime(worker=worker, slices=int(n), done=int(done or 0), failed=int(failed or 0),
                              retries=int(retries or 0), processing_s=round(float(summed or 0.0), 6), mean_ms=_ms(mean),
                              busy_span_s=round(span.total_seconds(), 3) if span is not None else None))
    return out, total


def _aware(value: Any) -> datetime:
    """A min()/max() of a time column (SQLite may hand back its text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return UTCDateTime().process_result_value(moment, None)  # type: ignore[arg-type,return-value]


async def _phases(session: AsyncSession, execution_id: str, end: datetime, seconds: _Seconds) -> dict[str, float]:
    event = StateEventRow
    following = func.lead(event.timestamp).over(order_by=(event.timestamp, event.id))
    ordered = (select(event.state, event.substate, event.timestamp.label("at"), event.id, following.label("until"))
               .where(event.execution_id == execution_id).subquery())
    stop = func.coalesce(ordered.c.until, literal(end, UTCDateTime()))
    stmt = (select(ordered.c.state, ordered.c.substate, func.sum(seconds(stop, ordered.c.at)), func.min(ordered.c.id))
            .group_by(ordered.c.state, ordered.c.substate).order_by(func.min(ordered.c.id)))
    out: dict[str, float] = {}
    for state, substate, spent, _first in (await session.execute(stmt)).all():
        out[f"{state}/{substate}" if substate else state] = round(max(float(spent or 0.0), 0.0), 3)
    return out


async def _completions(session: AsyncSession, mine: Any, seconds: _Seconds, dialect: str) -> tuple[float | None, list[int]]:
    """Slices finished per time bin (`COMPLETION_BINS` bins from the first finish to the last)."""
    first, last = (await session.execute(select(func.min(SliceRow.processed_at), func.max(SliceRow.processed_at))
                                         .where(mine))).one()
    if first is None or last is None:
        return None, []
    first, last = _aware(first), _aware(last)
    width = max((last - first).total_seconds(), 1e-6) / COMPLETION_BINS
    offset = seconds(SliceRow.processed_at, literal(first, UTCDateTime())) / width
    index = func.floor(offset) if dialect == "postgresql" else cast(offset, Integer)  # both: floor of a value >= 0
    binned = select(index.label("bin")).where(mine, SliceRow.processed_at.is_not(None)).subquery()
    counts = [0] * COMPLETION_BINS
    for b, n in (await session.execute(select(binned.c.bin, func.count()).group_by(binned.c.bin))).all():
        counts[min(max(int(b), 0), COMPLETION_BINS - 1)] += int(n)
    return round(width, 6), counts


async def _tasks(session: AsyncSession, execution_id: str) -> TaskTotals | None:
    mine = MessageRow.execution_id == execution_id
    body = await session.scalar(select(MessageRow.body).where(mine, MessageRow.msg_type == SUMMARY_MESSAGE)
                                .order_by(MessageRow.created_at.desc(), MessageRow.id.desc()).limit(1))
    if body is None:
        return None
    events = dict((await session.execute(
        select(MessageRow.msg_type, func.count()).where(mine, MessageRow.msg_type.in_(("task_retried", "task_failed")))
        .group_by(MessageRow.msg_type))).all())
    wall, compute = body.get("duration_s"), body.get("compute_s")
    ratio = round(float(wall) / float(compute), 4) if wall is not None and compute else None
    workers = [TaskWorker(worker=name, tasks=int(n), failed=int(failed), compute_s=round(float(spent), 6),
                          mean_ms=round(1000.0 * float(spent) / n, 3) if n else None)
               for name, (n, failed, spent) in (body.get("workers") or {}).items()]
    workers.sort(key=lambda w: (-w.compute_s, w.worker))
    return TaskTotals(status=body.get("status"), succeeded=sum(int(v) for v in (body.get("stage_runs") or {}).values()),
                      failed=int(body.get("failed") or 0), retried=int(events.get("task_retried", 0)),
                      wall_s=wall, compute_s=compute, wall_to_compute=ratio, workers=workers[:MAX_WORKERS],
                      workers_total=len(workers))
