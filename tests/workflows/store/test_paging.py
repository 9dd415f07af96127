"""`fetch_shaped_page`: the statements of a shape are built once and kept, and every call binds
its own values (a kept statement never answers with the values of the call that built it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, literal

from workflows.store import LogIn, Store
from workflows.store.models import LogRow
from workflows.store.paging import fetch_shaped_page
from workflows.store.records import LogLine

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def test_a_shape_is_built_once_and_binds_each_calls_values(store: Store) -> None:
    await store.logs.add_logs([LogIn(namespace=ns, agent=f"a-{ns}", level=level, message=f"{ns} {i}",
                                     created_at=T0 + timedelta(seconds=i))
                               for i, (ns, level) in enumerate([("alice", 20), ("bob", 40)] * 3)])
    built: list[int] = []

    def build() -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]]]:
        built.append(1)
        return ([LogRow.namespace == bindparam("namespace", type_=LogRow.namespace.type)],
                [LogRow.level + literal(0) >= bindparam("min_level", type_=LogRow.level.type)])

    shape = ("test", uuid.uuid4().hex)  # a shape no other test has kept
    order = (LogRow.created_at, LogRow.id)

    async def page(namespace: str, min_level: int, cursor: str | None = None) -> list[str]:
        found = await fetch_shaped_page(store.db, LogRow, LogLine, shape, build,
                                        {"namespace": namespace, "min_level": min_level},
                                        order, 2, cursor, "logs")
        return [line.message for line in found.items] + ([found.next_cursor] if found.next_cursor else [])

    assert await page("alice", 10) == ["alice 4", "alice 2", (cursor := (await page("alice", 10))[-1])]
    assert await page("bob", 10) == ["bob 5", "bob 3", (await page("bob", 10))[-1]]
    assert await page("alice", 40) == []
    assert len(built) == 1  # first pages of one shape and page size: one statement
    assert await page("alice", 10, cursor) == ["alice 0"]
    assert len(built) == 2  # the cursor page has its own (a cursor bound, no count)
