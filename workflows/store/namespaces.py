"""Namespaces: the isolation unit (one user's testbed, executions, agents)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Select, func, select

from workflows.store.database import Database
from workflows.store.errors import InvalidQuery, NotFound
from workflows.store.models import AgentRow, ExecutionRow, NamespaceRow
from workflows.store.records import NamespaceRecord
from workflows.store.timestamps import utcnow


class Namespaces:
    """Known namespaces, with counts of their executions and agents.

    Example: ``await store.namespaces.ensure("alice")`` then ``await store.namespaces.get("alice")``.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(self, name: str, description: str | None = None) -> NamespaceRecord:
        """Create ``name`` if it does not exist (a given description replaces the stored one)."""
        if not name or len(name) > 64:
            raise InvalidQuery("name", "a namespace name is 1 to 64 characters")
        insert = self._db.insert(NamespaceRow).values(name=name, description=description, created_at=utcnow())
        if description is None:
            insert = insert.on_conflict_do_nothing(index_elements=["name"])
        else:
            insert = insert.on_conflict_do_update(index_elements=["name"], set_={"description": description})
        async with self._db.transaction() as session:
            await session.execute(insert)
        return await self.get(name)

    async def get(self, name: str) -> NamespaceRecord:
        """Namespace ``name`` with its counts; NotFound when it was never ensured."""
        async with self._db.session() as session:
            row = (await session.execute(self._query().where(NamespaceRow.name == name))).first()
        if row is None:
            raise NotFound("namespace", name)
        return self._record(row)

    async def list(self) -> list[NamespaceRecord]:
        """Every namespace, by name (a handful of rows: no pagination)."""
        async with self._db.session() as session:
            rows = (await session.execute(self._query().order_by(NamespaceRow.name))).all()
        return [self._record(row) for row in rows]

    @staticmethod
    def _query() -> Select[Any]:
        executions = (select(func.count()).where(ExecutionRow.namespace == NamespaceRow.name)
                      .scalar_subquery())
        agents = select(func.count()).where(AgentRow.namespace == NamespaceRow.name).scalar_subquery()
        return select(NamespaceRow, executions.label("executions"), agents.label("agents"))

    @staticmethod
    def _record(row: Row[Any]) -> NamespaceRecord:
        namespace, executions, agents = row
        return NamespaceRecord(name=namespace.name, description=namespace.description,
                               created_at=namespace.created_at, execution_count=executions,
                               agent_count=agents)
