"""Named counters allocated atomically: ``UPDATE ... SET value = value + 1 RETURNING value``.

The row is created on first use with ``INSERT ... ON CONFLICT DO NOTHING``. On PostgreSQL the
UPDATE's row lock serialises concurrent allocators (several processes, several nodes); on SQLite
the write transaction (``BEGIN IMMEDIATE``) does. A value is handed out once; when the
allocating transaction rolls back, so does the counter, so an id that was never stored leaves
no gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from workflows.store.database import Database
from workflows.store.errors import InvalidQuery
from workflows.store.models import CounterRow


async def next_value(db: Database, session: AsyncSession, name: str, start: int = 1) -> int:
    """The next value of counter ``name`` inside ``session``'s transaction (first is ``start``)."""
    if not name:
        raise InvalidQuery("name", "a counter needs a non-empty name")
    create = db.insert(CounterRow).values(name=name, value=start - 1).on_conflict_do_nothing(
        index_elements=["name"]
    )
    await session.execute(create)
    bump = (
        update(CounterRow)
        .where(CounterRow.name == name)
        .values(value=CounterRow.value + 1)
        .returning(CounterRow.value)
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(bump)).scalar_one())


def add_values(db: Database, conn: Connection, amounts: Mapping[str, int]) -> None:
    """Add ``amounts`` to their counters inside ``conn``'s transaction (created at 0 on first
    use); synchronous, for a batch function of the writer (:mod:`workflows.store.writer`)."""
    amounts = {name: amount for name, amount in amounts.items() if amount}
    if not amounts:
        return
    check_names(amounts)
    table = CounterRow.__table__
    insert = db.insert(table)
    add = insert.on_conflict_do_update(index_elements=["name"], set_={"value": table.c.value + insert.excluded.value})
    conn.execute(add, [{"name": n, "value": a} for n, a in amounts.items()])


def check_names(amounts: Mapping[str, int]) -> None:
    """InvalidQuery naming ``name`` when a counter name is empty."""
    if not all(amounts):
        raise InvalidQuery("name", "a counter needs a non-empty name")


class Counters:
    """Named monotonically increasing integers.

    Example: ``await store.counters.next("run_number", start=100010)`` -> 100010, 100011, ...
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def next(self, name: str, start: int = 1) -> int:
        """Allocate the next value of ``name`` in its own transaction."""
        async with self._db.transaction() as session:
            return await next_value(self._db, session, name, start)

    async def add(self, amounts: dict[str, int]) -> None:
        """Add to several counters in one transaction (created at 0 on first use); e.g. what an
        agent received since its last flush: ``{"slice_results_received:EXEC": 200}``."""
        if any(amounts.values()):
            check_names(amounts)
            await self._db.writer.submit(self._add_batch, dict(amounts))

    def _add_batch(self, conn: Connection, batches: list[dict[str, int]]) -> list[Any]:
        """The writer's batch function: every call's amounts summed, one UPDATE per counter."""
        totals: Counter[str] = Counter()
        for amounts in batches:
            totals.update(amounts)
        add_values(self._db, conn, totals)
        return [None] * len(batches)

    async def current(self, name: str) -> int | None:
        """The last value handed out (None when the counter was never used)."""
        async with self._db.session() as session:
            return await session.scalar(select(CounterRow.value).where(CounterRow.name == name))
