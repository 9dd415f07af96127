"""System state events (the DAQ state machine's transitions) and bus messages kept for reading."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete

from workflows.store.database import Database
from workflows.store.models import MessageRow, StateEventRow
from workflows.store.paging import equals, fetch_page, time_range
from workflows.store.records import MessageIn, MessageRecord, Page, StateEventIn, StateEventRecord
from workflows.store.timestamps import as_utc, utcnow


class Events:
    """State events and workflow messages.

    Example::

        await store.events.add_messages([MessageIn(namespace="alice", msg_type="stf_gen", body={...})])
        page = await store.events.list_messages(namespace="alice", msg_type="stf_gen")
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_state_event(
        self,
        namespace: str,
        event_type: str,
        state: str,
        substate: str | None = None,
        execution_id: str | None = None,
        run_number: int | None = None,
        timestamp: datetime | None = None,
        simulation_tick: float | None = None,
        data: dict[str, Any] | None = None,
    ) -> StateEventRecord:
        """Record one state transition (``timestamp`` defaults to now)."""
        row = StateEventRow(
            namespace=namespace, event_type=event_type, state=state, substate=substate,
            execution_id=execution_id, run_number=run_number,
            timestamp=as_utc(timestamp, "timestamp") if timestamp else utcnow(),
            simulation_tick=simulation_tick, data=data or {},
        )
        async with self._db.transaction() as session:
            session.add(row)
            await session.flush()
            return StateEventRecord.model_validate(row)

    async def add_state_events(self, batch: Sequence[StateEventIn]) -> int:
        """Record a batch of state transitions (one executemany with the flush's other writes);
        returns how many."""
        if not batch:
            return 0
        now = utcnow()
        rows = [
            {**e.model_dump(exclude={"timestamp"}),
             "timestamp": as_utc(e.timestamp, f"batch[{index}].timestamp") if e.timestamp else now}
            for index, e in enumerate(batch)
        ]
        count: int = await self._db.writer.submit(self._insert_state_events, rows)
        return count

    @staticmethod
    def _insert_state_events(conn: Connection, batches: list[list[dict[str, Any]]]) -> list[Any]:
        """The writer's batch function: every call's state events in one executemany."""
        conn.execute(StateEventRow.__table__.insert(), [row for rows in batches for row in rows])
        return [len(rows) for rows in batches]

    async def list_state_events(
        self,
        namespace: str | None = None,
        execution_id: str | None = None,
        run_number: int | None = None,
        event_type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[StateEventRecord]:
        """State events, newest first."""
        conditions = equals(StateEventRow, namespace=namespace, execution_id=execution_id,
                            run_number=run_number, event_type=event_type)
        conditions += time_range(StateEventRow.timestamp, start_time, end_time)
        async with self._db.session() as session:
            return await fetch_page(session, StateEventRow, StateEventRecord, conditions,
                                    (StateEventRow.timestamp, StateEventRow.id), limit, cursor,
                                    "state_events")

    async def add_messages(self, batch: Sequence[MessageIn]) -> int:
        """Store a batch of messages (one executemany with the other writes of the flush); returns how many."""
        if not batch:
            return 0
        now = utcnow()
        rows = [
            {**m.model_dump(exclude={"created_at"}),
             "created_at": as_utc(m.created_at, "created_at") if m.created_at else now}
            for m in batch
        ]
        count: int = await self._db.writer.submit(self._insert_messages, rows)
        return count

    @staticmethod
    def _insert_messages(conn: Connection, batches: list[list[dict[str, Any]]]) -> list[Any]:
        """The writer's batch function: every call's messages in one executemany."""
        conn.execute(MessageRow.__table__.insert(), [row for rows in batches for row in rows])
        return [len(rows) for rows in batches]

    async def list_messages(
        self,
        namespace: str | None = None,
        execution_id: str | None = None,
        agent: str | None = None,
        msg_type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[MessageRecord]:
        """Messages, newest first; ``agent`` is the sender."""
        conditions = equals(MessageRow, namespace=namespace, execution_id=execution_id,
                            sender=agent, msg_type=msg_type)
        conditions += time_range(MessageRow.created_at, start_time, end_time)
        async with self._db.session() as session:
            return await fetch_page(session, MessageRow, MessageRecord, conditions,
                                    (MessageRow.created_at, MessageRow.id), limit, cursor, "messages")

    async def prune_messages(self, older_than: datetime) -> int:
        """Delete messages created before ``older_than``; returns how many."""
        cutoff = as_utc(older_than, "older_than")
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(MessageRow).where(MessageRow.created_at < cutoff)
                .execution_options(synchronize_session=False)
            )
        return max(result.rowcount, 0)
