"""Retention: delete what is older than a cutoff, keeping everything still in use.

Messages, logs and state events go by their own time. An execution goes only once it is
finished (a terminal status) and ended before the cutoff; its runs, STF files, TF samples,
slices, workers and run states go with it. Running executions are never pruned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from workflows.store.database import Database
from workflows.store.models import (
    ExecutionRow,
    LogRow,
    MessageRow,
    RunRow,
    RunStateRow,
    SliceRow,
    StateEventRow,
    StfFileRow,
    TfSampleRow,
    WorkerRow,
)
from workflows.store.records import TERMINAL_STATUSES, PruneReport
from workflows.store.timestamps import as_utc

_BATCH = 500  # execution ids per IN (...) list


async def prune(db: Database, older_than: datetime) -> PruneReport:
    """Delete rows older than ``older_than``; returns the counts per kind."""
    cutoff = as_utc(older_than, "older_than")
    counts: dict[str, int] = {}
    async with db.transaction() as session:
        counts["messages"] = await _delete(session, MessageRow, MessageRow.created_at < cutoff)
        counts["logs"] = await _delete(session, LogRow, LogRow.created_at < cutoff)
        counts["state_events"] = await _delete(session, StateEventRow, StateEventRow.timestamp < cutoff)
        finished = select(ExecutionRow.execution_id).where(
            ExecutionRow.status.in_(TERMINAL_STATUSES), ExecutionRow.end_time < cutoff
        )
        ids = list((await session.scalars(finished)).all())
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start:start + _BATCH]
            runs = select(RunRow.run_number).where(RunRow.execution_id.in_(chunk))
            _add(counts, "run_states", await _delete(session, RunStateRow, RunStateRow.run_number.in_(runs)))
            _add(counts, "runs", await _delete(session, RunRow, RunRow.execution_id.in_(chunk)))
            _add(counts, "stf_files", await _delete(session, StfFileRow, StfFileRow.execution_id.in_(chunk)))
            _add(counts, "tf_samples", await _delete(session, TfSampleRow, TfSampleRow.execution_id.in_(chunk)))
            _add(counts, "slices", await _delete(session, SliceRow, SliceRow.execution_id.in_(chunk)))
            _add(counts, "workers", await _delete(session, WorkerRow, WorkerRow.execution_id.in_(chunk)))
            _add(counts, "executions", await _delete(session, ExecutionRow, ExecutionRow.execution_id.in_(chunk)))
    return PruneReport(**counts)


async def _delete(session: AsyncSession, model: type[Any], condition: Any) -> int:
    result = await session.execute(
        delete(model).where(condition).execution_options(synchronize_session=False)
    )
    return max(result.rowcount, 0)


def _add(counts: dict[str, int], key: str, value: int) -> None:
    counts[key] = counts.get(key, 0) + value
