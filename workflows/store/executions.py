"""Workflow executions: ``{workflow}-{user}-{NNNN}`` ids, status changes, lists, orphan closing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update

from workflows.store.counters import next_value
from workflows.store.database import Database
from workflows.store.errors import InvalidQuery, NotFound
from workflows.store.models import ExecutionRow, RunRow
from workflows.store.paging import fetch_page, time_range
from workflows.store.records import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    ExecutionRecord,
    ExecutionStatus,
    Page,
)
from workflows.store.timestamps import utcnow

_STATUSES = ACTIVE_STATUSES + TERMINAL_STATUSES
ORPHAN_ERROR = "the node restarted while this execution was running; it was closed as an orphan"


def execution_id(workflow_name: str, user: str, number: int) -> str:
    """``{workflow}-{user}-{NNNN}``: the number zero-padded to 4 digits, wider when needed."""
    return f"{workflow_name}-{user}-{number:04d}"


def _check_status(status: str, field: str = "status") -> None:
    if status not in _STATUSES:
        raise InvalidQuery(field, f"unknown status {status!r}; use one of {', '.join(_STATUSES)}")


class Executions:
    """The workflow executions of every namespace.

    Example::

        record = await store.executions.create("stf_datataking", "alice", "alice", config, ...)
        await store.executions.set_status(record.execution_id, "running")
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        workflow_name: str,
        namespace: str,
        executed_by: str,
        config: dict[str, Any],
        config_hash: str,
        code_version: str | None,
        parameters: dict[str, Any],
        realtime: bool,
        reason: str | None = None,
        node: str | None = None,
        definition_version: str | None = None,
    ) -> ExecutionRecord:
        """Store a pending execution under a fresh ``{workflow}-{user}-{NNNN}`` id."""
        for field, value in (("workflow_name", workflow_name), ("namespace", namespace),
                             ("executed_by", executed_by)):
            if not value:
                raise InvalidQuery(field, "must not be empty")
        async with self._db.transaction() as session:
            number = await next_value(self._db, session, f"execution:{workflow_name}:{executed_by}")
            row = ExecutionRow(
                execution_id=execution_id(workflow_name, executed_by, number),
                workflow_name=workflow_name,
                definition_version=definition_version,
                namespace=namespace,
                executed_by=executed_by,
                config=config,
                config_hash=config_hash,
                code_version=code_version,
                parameters=parameters,
                realtime=realtime,
                status="pending",
                stf_count=0,
                start_time=utcnow(),
                reason=reason,
                node=node,
            )
            session.add(row)
            await session.flush()
            return ExecutionRecord.model_validate(row)

    async def set_status(
        self,
        execution_id: str,
        status: ExecutionStatus,
        error: str | None = None,
        phase: str | None = None,
        run_number: int | None = None,
        stf_count: int | None = None,
    ) -> ExecutionRecord:
        """Change the status (and optionally phase, run, STF count); terminal states set end_time."""
        _check_status(status)
        async with self._db.transaction() as session:
            row = await session.get(ExecutionRow, execution_id)
            if row is None:
                raise NotFound("execution", execution_id)
            row.status = status
            if error is not None:
                row.error = error
            if phase is not None:
                row.phase = phase
            if run_number is not None:
                row.run_number = run_number
            if stf_count is not None:
                row.stf_count = stf_count
            if status in TERMINAL_STATUSES and row.end_time is None:
                row.end_time = utcnow()
            await session.flush()
            return ExecutionRecord.model_validate(row)

    async def get(self, execution_id: str) -> ExecutionRecord:
        """The execution ``execution_id``; NotFound when there is none."""
        async with self._db.session() as session:
            row = await session.get(ExecutionRow, execution_id)
            if row is None:
                raise NotFound("execution", execution_id)
            return ExecutionRecord.model_validate(row)

    async def list(
        self,
        namespace: str | None = None,
        status: ExecutionStatus | None = None,
        executed_by: str | None = None,
        workflow_name: str | None = None,
        currently_running: bool | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[ExecutionRecord]:
        """Executions, newest first; ``currently_running`` means pending or running."""
        conditions: list[ColumnElement[bool]] = []
        if namespace is not None:
            conditions.append(ExecutionRow.namespace == namespace)
        if status is not None:
            _check_status(status)
            conditions.append(ExecutionRow.status == status)
        if executed_by is not None:
            conditions.append(ExecutionRow.executed_by == executed_by)
        if workflow_name is not None:
            conditions.append(ExecutionRow.workflow_name == workflow_name)
        if currently_running is True:
            conditions.append(ExecutionRow.status.in_(ACTIVE_STATUSES))
        elif currently_running is False:
            conditions.append(ExecutionRow.status.in_(TERMINAL_STATUSES))
        conditions += time_range(ExecutionRow.start_time, start_time, end_time)
        async with self._db.session() as session:
            return await fetch_page(
                session, ExecutionRow, ExecutionRecord, conditions,
                (ExecutionRow.start_time, ExecutionRow.execution_id), limit, cursor, "executions",
            )

    async def close_running(
        self,
        namespace: str | None = None,
        status: ExecutionStatus = "terminated",
        error: str = ORPHAN_ERROR,
    ) -> int:
        """Close every pending/running execution (and its running runs); returns how many.

        A node calls this at start-up: nothing it ran before can still be running.
        """
        if status not in TERMINAL_STATUSES:
            raise InvalidQuery("status", f"must be terminal ({', '.join(TERMINAL_STATUSES)}), got {status!r}")
        now = utcnow()
        active = ExecutionRow.status.in_(ACTIVE_STATUSES)
        scope = [active] if namespace is None else [active, ExecutionRow.namespace == namespace]
        async with self._db.transaction() as session:
            ids = list((await session.scalars(select(ExecutionRow.execution_id).where(*scope))).all())
            if not ids:
                return 0
            await session.execute(
                update(RunRow)
                .where(RunRow.execution_id.in_(ids), RunRow.status == "running")
                .values(status="ended", end_time=now)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(ExecutionRow)
                .where(ExecutionRow.execution_id.in_(ids))
                .values(status=status, error=error, end_time=now)
                .execution_options(synchronize_session=False)
            )
            return len(ids)
