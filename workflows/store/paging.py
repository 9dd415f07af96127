"""Keyset pagination shared by every list of the store: newest first, opaque cursors.

A list orders by a tuple of columns, descending, whose last column is unique (``(created_at,
id)``, ``(start_time, execution_id)``, ``(run_number,)``). The cursor is the last row's values of
those columns, so the next page is ``WHERE (cols) < (values)``: rows inserted meanwhile never
shift a page, and each page is an index range scan whatever its depth.

Totals are counted up to :data:`~workflows.store.records.COUNT_CAP`: an exact ``count(*)``
over a million rows costs more than the page itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from workflows.store.errors import InvalidQuery
from workflows.store.records import COUNT_CAP, MAX_LIMIT, Page, Record
from workflows.store.timestamps import as_utc

R = TypeVar("R", bound=Record)


def check_limit(limit: int) -> int:
    """``limit`` if it is within 1..200, else InvalidQuery naming ``limit`` and the maximum."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(
            "limit", f"must be an integer from 1 to {MAX_LIMIT} (got {limit!r}); "
            f"read longer lists page by page with next_cursor"
        )
    return limit


def equals(model: type[Any], **filters: object) -> list[ColumnElement[bool]]:
    """``model.column == value`` for every filter whose value is not None."""
    return [getattr(model, key) == value for key, value in filters.items() if value is not None]


def time_range(
    column: InstrumentedAttribute[Any], start_time: datetime | None, end_time: datetime | None
) -> list[ColumnElement[bool]]:
    """``start_time <= column <= end_time`` (either bound optional, both aware)."""
    conditions: list[ColumnElement[bool]] = []
    if start_time is not None:
        conditions.append(column >= as_utc(start_time, "start_time"))
    if end_time is not None:
        conditions.append(column <= as_utc(end_time, "end_time"))
    if start_time is not None and end_time is not None and start_time > end_time:
        raise InvalidQuery("end_time", "is before start_time; swap them or widen the range")
    return conditions


def encode_cursor(kind: str, values: Sequence[object]) -> str:
    """An opaque cursor for the list ``kind`` positioned after a row with ``values``."""
    encoded = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    raw = json.dumps([kind, encoded], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, arity: int) -> list[object]:
    """The values inside ``cursor``; InvalidQuery naming ``cursor`` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found_kind, values = json.loads(raw)
        if found_kind != kind or not isinstance(values, list) or len(values) != arity:
            raise ValueError(kind)
        return [datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in values]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidQuery(
            "cursor", f"is not a cursor of the {kind} list; pass next_cursor from the previous "
            f"page of the same list, or leave cursor empty for the first page"
        ) from exc


async def fetch_page(
    session: AsyncSession,
    model: type[Any],
    record: type[R],
    conditions: Sequence[ColumnElement[bool]],
    order: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    cursor: str | None,
    kind: str,
) -> Page[R]:
    """One page of ``model`` rows matching ``conditions``, ordered by ``order`` descending."""
    check_limit(limit)
    where = list(conditions)
    total, capped = await count_capped(session, model, where)
    if cursor:
        values = decode_cursor(kind, cursor, len(order))
        bounds = [literal(v, type_=c.type) for v, c in zip(values, order, strict=True)]
        where.append(tuple_(*order) < tuple_(*bounds) if len(order) > 1 else order[0] < bounds[0])
    stmt = select(model).where(*where).order_by(*(c.desc() for c in order)).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_more:
        last = rows[-1]
        next_cursor = encode_cursor(kind, [getattr(last, c.key) for c in order])
    return Page[record](  # type: ignore[valid-type]
        items=[record.model_validate(row) for row in rows],
        total=total,
        total_is_lower_bound=capped,
        has_more=has_more,
        next_cursor=next_cursor,
    )


async def count_capped(
    session: AsyncSession, model: type[Any], conditions: Sequence[ColumnElement[bool]]
) -> tuple[int, bool]:
    """``(count, capped)``: matches counted up to COUNT_CAP; ``capped`` when there are more."""
    inner = select(literal(1)).select_from(model).where(*conditions).limit(COUNT_CAP + 1).subquery()
    count = (await session.execute(select(func.count()).select_from(inner))).scalar_one()
    if count > COUNT_CAP:
        return COUNT_CAP, True
    return count, False

