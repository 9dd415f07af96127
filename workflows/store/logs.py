"""Application logs of agents and workflows: batched writes, newest-first keyset reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, bindparam, delete, literal

from workflows.store.database import Database
from workflows.store.errors import InvalidQuery, NotFound
from workflows.store.models import LogRow
from workflows.store.paging import fetch_shaped_page, time_bounds
from workflows.store.records import JsonPage, LogIn, LogLine, LogRecord, Page
from workflows.store.timestamps import as_utc, utcnow

R = TypeVar("R", LogRecord, LogLine)
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50, "FATAL": 50}


def level_number(level: int | str, field: str = "min_level") -> int:
    """A level as a number: an int as is, a name (``"warning"``) through the logging names."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        if level.strip().isdigit():
            return int(level)
        found = LEVELS.get(level.strip().upper())
        if found is not None:
            return found
    raise InvalidQuery(field, f"unknown level {level!r}; use a number or one of DEBUG, INFO, "
                              f"WARNING, ERROR, CRITICAL")


class Logs:
    """Application log lines.

    Example::

        await store.logs.add_logs([LogIn(agent="data-agent-alice-1", level=logging.INFO, message="up")])
        page = await store.logs.list_logs(agent="data-agent-alice-1", min_level="WARNING")
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_logs(self, batch: Sequence[LogIn]) -> int:
        """Store a batch of log lines (one executemany with the other writes of the flush); returns how many."""
        if not batch:
            return 0
        now = utcnow()
        rows = [
            {**entry.model_dump(exclude={"created_at"}),
             "created_at": as_utc(entry.created_at, "created_at") if entry.created_at else now}
            for entry in batch
        ]
        count: int = await self._db.writer.submit(self._insert_logs, rows)
        return count

    @staticmethod
    def _insert_logs(conn: Connection, batches: list[list[dict[str, Any]]]) -> list[Any]:
        """The writer's batch function: every call's log lines in one executemany."""
        conn.execute(LogRow.__table__.insert(), [row for rows in batches for row in rows])
        return [len(rows) for rows in batches]

    async def list_logs(
        self,
        namespace: str | None = None,
        agent: str | None = None,
        execution_id: str | None = None,
        min_level: int | str | None = None,
        search: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        instance: str | None = None,
        limit: int = 200,
        cursor: str | None = None,
    ) -> Page[LogRecord]:
        """Log lines, newest first; ``search`` is a case-insensitive substring of the message."""
        return await self._page(LogRecord, namespace, agent, execution_id, min_level, search, start_time,
                                end_time, instance, limit, cursor)

    async def list_log_lines(
        self,
        namespace: str | None = None,
        agent: str | None = None,
        execution_id: str | None = None,
        min_level: int | str | None = None,
        search: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        instance: str | None = None,
        limit: int = 200,
        cursor: str | None = None,
    ) -> Page[LogLine]:
        """:meth:`list_logs` with lean rows (:class:`LogLine`); the same filters and cursors."""
        return await self._page(LogLine, namespace, agent, execution_id, min_level, search, start_time,
                                end_time, instance, limit, cursor)

    async def list_log_lines_json(
        self,
        namespace: str | None = None,
        agent: str | None = None,
        execution_id: str | None = None,
        min_level: int | str | None = None,
        search: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        instance: str | None = None,
        limit: int = 200,
        cursor: str | None = None,
    ) -> JsonPage:
        """:meth:`list_log_lines` already in its JSON form (:class:`JsonPage`: ``list_logs``' answer,
        built from the rows without a model per line)."""
        return await self._page(LogLine, namespace, agent, execution_id, min_level, search, start_time,
                                end_time, instance, limit, cursor, as_json=True)

    async def _page(
        self,
        record: type[R],
        namespace: str | None,
        agent: str | None,
        execution_id: str | None,
        min_level: int | str | None,
        search: str | None,
        start_time: datetime | None,
        end_time: datetime | None,
        instance: str | None,
        limit: int,
        cursor: str | None,
        as_json: bool = False,
    ) -> Any:
        # The statement is built once per shape (which filters are set) and kept; a call binds
        # its values (workflows.store.paging.fetch_shaped_page).
        equal = {key: value for key, value in (("namespace", namespace), ("agent", agent),
                                                ("execution_id", execution_id), ("instance", instance))
                 if value is not None}
        params: dict[str, object] = dict(equal)
        if min_level is not None:
            params["min_level"] = level_number(min_level)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params["search"] = f"%{escaped}%"
        start, end = time_bounds(start_time, end_time)
        if start is not None:
            params["start_time"] = start
        if end is not None:
            params["end_time"] = end
        shape = tuple(sorted(params))

        def build() -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]]]:
            conditions: list[ColumnElement[bool]] = [
                getattr(LogRow, key) == bindparam(key, type_=getattr(LogRow, key).type) for key in equal]
            if start is not None:
                conditions.append(LogRow.created_at >= bindparam("start_time", type_=LogRow.created_at.type))
            if end is not None:
                conditions.append(LogRow.created_at <= bindparam("end_time", type_=LogRow.created_at.type))
            residual: list[ColumnElement[bool]] = []
            if min_level is not None:
                # "+ 0": the (filter, created_at, id, level) indexes yield newest first and carry the
                # level, so the planner must not trade them for a range scan on level and a sort.
                residual.append(LogRow.level + literal(0) >= bindparam("min_level", type_=LogRow.level.type))
            if search:
                residual.append(LogRow.message.ilike(bindparam("search", type_=LogRow.message.type), escape="\\"))
            return conditions, residual

        return await fetch_shaped_page(self._db, LogRow, record, shape, build, params,
                                       (LogRow.created_at, LogRow.id), limit, cursor, "logs", as_json)

    async def get_log(self, log_id: int) -> LogRecord:
        """Log line ``log_id``; NotFound when there is none."""
        async with self._db.session() as session:
            row = await session.get(LogRow, log_id)
        if row is None:
            raise NotFound("log entry", log_id)
        return LogRecord.model_validate(row)

    async def prune_logs(self, older_than: datetime) -> int:
        """Delete log lines created before ``older_than``; returns how many."""
        cutoff = as_utc(older_than, "older_than")
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(LogRow).where(LogRow.created_at < cutoff).execution_options(synchronize_session=False)
            )
        return max(result.rowcount, 0)
