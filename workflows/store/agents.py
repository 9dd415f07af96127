"""System agents (heartbeats, liveness) and testbeds (one per namespace)."""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, select, update

from workflows.store.database import Database
from workflows.store.errors import InvalidQuery, NotFound
from workflows.store.models import AgentRow, TestbedRow
from workflows.store.paging import equals, fetch_page, time_range
from workflows.store.records import (
    AgentMode,
    AgentRecord,
    AgentStatus,
    Page,
    TestbedRecord,
    TestbedStatus,
)
from workflows.store.timestamps import as_utc, utcnow

_AGENT_STATUSES = ("STARTING", "READY", "PROCESSING", "EXITED")
_TESTBED_STATUSES = ("starting", "ready", "stopping", "stopped", "failed")


class Agents:
    """System agents and testbeds.

    Example::

        await store.agents.upsert_agent("data-agent-alice-1", "alice", "data", "READY", pid=1234)
        gone = await store.agents.mark_exited_older_than(now - timedelta(minutes=3))
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- agents ------------------------------------------------------------------------------

    async def upsert_agent(
        self,
        name: str,
        namespace: str,
        agent_type: str,
        status: AgentStatus,
        pid: int | None = None,
        hostname: str | None = None,
        mode: AgentMode | None = None,
        execution_id: str | None = None,
        detail: str | None = None,
        restarts: int | None = None,
        heartbeat: datetime | None = None,
    ) -> AgentRecord:
        """Create or refresh agent ``name`` (a heartbeat): status, last_heartbeat and whatever else
        is given; None keeps the stored value (``mode`` starts as ``inprocess``)."""
        if status not in _AGENT_STATUSES:
            raise InvalidQuery("status", f"unknown agent status {status!r}; use one of {', '.join(_AGENT_STATUSES)}")
        if mode is not None and mode not in ("inprocess", "process"):
            raise InvalidQuery("mode", f"unknown mode {mode!r}; use inprocess or process")
        beat = as_utc(heartbeat, "heartbeat") if heartbeat else utcnow()
        changes: dict[str, Any] = {"status": status, "last_heartbeat": beat,
                                   "namespace": namespace, "agent_type": agent_type}
        for key, value in (("mode", mode), ("pid", pid), ("hostname", hostname), ("execution_id", execution_id),
                           ("detail", detail), ("restarts", restarts)):
            if value is not None:
                changes[key] = value
        row = dict(name=name, namespace=namespace, agent_type=agent_type, status=status, pid=pid,
                   hostname=hostname, mode=mode or "inprocess", execution_id=execution_id, last_heartbeat=beat,
                   started_at=beat, restarts=restarts or 0, detail=detail)
        record: AgentRecord = await self._db.writer.submit(self._upsert_agents, (tuple(changes), row))
        return record

    def _upsert_agents(self, conn: Connection, items: list[tuple[tuple[str, ...], dict[str, Any]]]
                             ) -> list[Any]:
        """The writer's batch function: one upsert executemany per run of heartbeats that change the
        same columns (the others keep their stored values), in order; each caller gets the row
        as the flush left it."""
        table = AgentRow.__table__
        insert = self._db.insert(table)
        for changed, group in groupby(items, key=lambda item: item[0]):
            statement = insert.on_conflict_do_update(index_elements=["name"],
                                                     set_={name: insert.excluded[name] for name in changed})
            conn.execute(statement, [row for _changed, row in group])
        names = {row["name"] for _changed, row in items}
        stored = {agent.name: agent for agent in conn.execute(select(table).where(table.c.name.in_(names)))}
        return [AgentRecord.model_validate(stored[row["name"]]) for _changed, row in items]

    async def get_agent(self, name: str) -> AgentRecord:
        """Agent ``name``; NotFound when there is none."""
        async with self._db.session() as session:
            row = await session.get(AgentRow, name)
        if row is None:
            raise NotFound("agent", name)
        return AgentRecord.model_validate(row)

    async def list_agents(
        self,
        namespace: str | None = None,
        agent_type: str | None = None,
        status: AgentStatus | None = None,
        execution_id: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AgentRecord]:
        """Agents, most recently started first; the time range applies to ``last_heartbeat``."""
        conditions = equals(AgentRow, namespace=namespace, agent_type=agent_type, status=status,
                            execution_id=execution_id)
        conditions += time_range(AgentRow.last_heartbeat, start_time, end_time)
        async with self._db.session() as session:
            return await fetch_page(session, AgentRow, AgentRecord, conditions,
                                    (AgentRow.started_at, AgentRow.name), limit, cursor, "agents")

    async def mark_exited_older_than(self, cutoff: datetime) -> list[str]:
        """Mark EXITED every live agent whose last heartbeat is before ``cutoff``; their names."""
        limit = as_utc(cutoff, "cutoff")
        async with self._db.transaction() as session:
            result = await session.execute(
                update(AgentRow)
                .where(AgentRow.status != "EXITED", AgentRow.last_heartbeat < limit)
                .values(status="EXITED", detail="no heartbeat since the cutoff")
                .returning(AgentRow.name)
                .execution_options(synchronize_session=False)
            )
            return sorted(result.scalars().all())

    # -- testbeds ----------------------------------------------------------------------------

    async def upsert_testbed(
        self,
        namespace: str,
        config_name: str,
        status: TestbedStatus,
        mode: str = "inprocess",
        node: str | None = None,
        started_by: str | None = None,
        agents: dict[str, Any] | None = None,
    ) -> TestbedRecord:
        """Create or update the namespace's testbed; ``starting`` restarts the clock,
        ``stopped``/``failed`` set stopped_at."""
        if status not in _TESTBED_STATUSES:
            raise InvalidQuery("status", f"unknown testbed status {status!r}; use one of {', '.join(_TESTBED_STATUSES)}")
        now = utcnow()
        changes: dict[str, Any] = {"config_name": config_name, "status": status, "mode": mode}
        for key, value in (("node", node), ("started_by", started_by), ("agents", agents)):
            if value is not None:
                changes[key] = value
        if status == "starting":
            changes.update(started_at=now, stopped_at=None)
        if status in ("stopped", "failed"):
            changes["stopped_at"] = now
        insert = self._db.insert(TestbedRow).values(
            namespace=namespace, config_name=config_name, status=status, mode=mode, node=node,
            started_at=now, stopped_at=changes.get("stopped_at"), started_by=started_by,
            agents=agents or {},
        )
        async with self._db.transaction() as session:
            await session.execute(insert.on_conflict_do_update(index_elements=["namespace"], set_=changes))
            row = await session.get(TestbedRow, namespace, populate_existing=True)
            return TestbedRecord.model_validate(row)

    async def get_testbed(self, namespace: str) -> TestbedRecord:
        """The testbed of ``namespace``; NotFound when none was ever started."""
        async with self._db.session() as session:
            row = await session.get(TestbedRow, namespace)
        if row is None:
            raise NotFound("testbed", namespace)
        return TestbedRecord.model_validate(row)

    async def list_testbeds(self, status: TestbedStatus | None = None) -> list[TestbedRecord]:
        """Every testbed (one per namespace; few rows), by namespace."""
        stmt = select(TestbedRow).order_by(TestbedRow.namespace)
        if status is not None:
            stmt = stmt.where(TestbedRow.status == status)
        async with self._db.session() as session:
            return [TestbedRecord.model_validate(row) for row in (await session.scalars(stmt)).all()]
