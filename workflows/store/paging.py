"""Keyset pagination shared by every list of the store: newest first, opaque cursors.

A list orders by a tuple of columns, descending, whose last column is unique (``(created_at,
id)``, ``(start_time, execution_id)``, ``(run_number,)``). The cursor is the last row's values of
those columns, so the next page is ``WHERE (cols) < (values)``: rows inserted meanwhile never
shift a page, and each page is an index range scan whatever its depth.

Totals are counted up to :data:`~workflows.store.records.COUNT_CAP`: an exact ``count(*)``
over a million rows costs more than the page itself. The first page counts; its cursors carry
the count on, so the later pages of one listing skip it (walking up to COUNT_CAP index entries
again, 0.2-0.9 ms on SQLite with 1M rows) and show the same total while rows keep arriving.
A cursor without a count (made by :func:`encode_cursor` without ``count``) counts again.

Building a page's statement (the select, the count subquery, SQLAlchemy's cache key) costs
~0.13 ms a call, as much as the SQL of a 20-row page. :func:`fetch_shaped_page` builds it once
per shape of a query (which filters are set, the page size, with or without a cursor) with bound
parameters, keeps it, and only binds the values on later calls; ``list_logs`` uses it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from pydantic_core import to_json
from sqlalchemy.orm import InstrumentedAttribute

from workflows.store.database import Database, ReadStatement
from workflows.store.errors import InvalidQuery
from workflows.store.records import COUNT_CAP, MAX_LIMIT, JsonPage, Page, Record
from workflows.store.timestamps import UTCDateTime, as_utc, json_utc

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
    start, end = time_bounds(start_time, end_time)
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column <= end)
    return conditions


def time_bounds(start_time: datetime | None, end_time: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Both bounds in UTC; InvalidQuery for a naive one or an end before the start."""
    start = as_utc(start_time, "start_time") if start_time is not None else None
    end = as_utc(end_time, "end_time") if end_time is not None else None
    if start is not None and end is not None and start > end:
        raise InvalidQuery("end_time", "is before start_time; swap them or widen the range")
    return start, end


def encode_cursor(kind: str, values: Sequence[object], count: int | None = None) -> str:
    """An opaque cursor for the list ``kind`` positioned after a row with ``values``; ``count``
    is the listing's packed count (see :func:`fetch_page`), carried to the next page."""
    encoded = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    raw = json.dumps([kind, encoded] if count is None else [kind, encoded, count], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, arity: int) -> list[object]:
    """The values inside ``cursor``; InvalidQuery naming ``cursor`` when it is not one of ours."""
    return _decode(kind, cursor, arity)[0]


def _decode(kind: str, cursor: str, arity: int) -> tuple[list[object], int | None]:
    """The values inside ``cursor`` and the count it carries (None: count again)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found_kind, values, *rest = json.loads(raw)
        count = rest[0] if len(rest) == 1 else None
        if found_kind != kind or not isinstance(values, list) or len(values) != arity or len(rest) > 1 \
                or (rest and (type(count) is not int or count < 0)):
            raise ValueError(kind)
        return [datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in values], count
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
    residual: Sequence[ColumnElement[bool]] = (),
) -> Page[R]:
    """One page of ``model`` rows matching ``conditions`` and ``residual``, newest first by ``order``.

    ``conditions`` are the filters an index answers; ``residual`` the ones checked row by row
    (a level threshold, a substring). One statement: the capped count rides along as an
    uncorrelated scalar subquery (evaluated once), and rows come back as plain tuples. A cursor
    page takes the count its cursor carries (the first page's) and runs no count.
    With residual filters the count looks at the newest COUNT_CAP rows of the indexed filters
    only, and says it is a lower bound when there are more.
    """
    check_limit(limit)
    values, carried = _decode(kind, cursor, len(order)) if cursor else (None, None)
    bounds = None if values is None else [literal(v, type_=c.type) for v, c in zip(values, order, strict=True)]
    statements = _Statements(model, record, conditions, residual, order, limit, bounds, counted=carried is None)

    async def fetch(read: ReadStatement, params: Mapping[str, object]) -> list[Sequence[Any]]:
        conn = await session.connection()
        return list((await conn.execute(read.statement, params)).all())

    return await statements.run(fetch, {}, values, carried, kind)


async def fetch_shaped_page(
    db: Database,
    model: type[Any],
    record: type[R],
    shape: Hashable,
    build: Callable[[], tuple[Sequence[ColumnElement[bool]], Sequence[ColumnElement[bool]]]],
    params: Mapping[str, object],
    order: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    cursor: str | None,
    kind: str,
    as_json: bool = False,
) -> Page[R] | JsonPage:
    """:func:`fetch_page` with the statements built once per ``shape`` and kept, read through
    :meth:`Database.rows` (on SQLite: compiled once, one round trip to the driver per statement).

    ``build()`` returns ``(conditions, residual)`` written with ``bindparam(name)`` where the
    values go; ``params`` holds this call's values by those names. ``shape`` must tell apart
    every query whose ``build()`` would differ (which filters are set): equal shapes share the
    statements, so a wrong shape answers another query. ``as_json``: the page as a
    :class:`JsonPage` (the record's fields, in its order, straight from the rows).
    """
    check_limit(limit)
    values, carried = _decode(kind, cursor, len(order)) if cursor else (None, None)
    # the order by name: SQLAlchemy attributes compare as SQL (==), so they make poor dict keys
    key = (model, record, shape, tuple(o.key for o in order), limit, values is not None, carried is None)
    statements = _SHAPES.get(key)
    if statements is None:
        conditions, residual = build()
        bounds = None if values is None else [bindparam(f"_cursor_{i}", type_=c.type) for i, c in enumerate(order)]
        statements = _Statements(model, record, conditions, residual, order, limit, bounds, counted=carried is None)
        if len(_SHAPES) >= _SHAPES_KEPT:
            _SHAPES.clear()  # many shapes in a long-lived process: start over rather than grow
        _SHAPES[key] = statements
    bound = dict(params)
    if values is not None:
        bound.update((f"_cursor_{i}", value) for i, value in enumerate(values))
    if as_json:
        return await statements.run_json(db.rows, bound, values, carried, kind)
    return await statements.run(db.rows, bound, values, carried, kind)


Fetch = Callable[[ReadStatement, Mapping[str, object]], Awaitable[list[Sequence[Any]]]]
"""How a page's statements are run: :meth:`Database.rows`, or a session's connection."""

_SHAPES: dict[tuple[Any, ...], _Statements[Any]] = {}
_SHAPES_KEPT = 256  # a few dozen in use: filters x page sizes x first/cursor page


class _Statements(Generic[R]):
    """The page statement of one query (and its standalone count) and how to read its rows."""

    def __init__(
        self,
        model: type[Any],
        record: type[R],
        conditions: Sequence[ColumnElement[bool]],
        residual: Sequence[ColumnElement[bool]],
        order: Sequence[InstrumentedAttribute[Any]],
        limit: int,
        bounds: Sequence[ColumnElement[Any]] | None,
        counted: bool,
    ) -> None:
        where = [*conditions, *residual]
        if bounds is not None:
            where.append(tuple_(*order) < tuple_(*bounds) if len(order) > 1 else order[0] < bounds[0])
        counts = _capped_counts(model, conditions, residual, order) if counted else None
        # only the record's columns: a lean record reads (and decodes) less
        self.columns = [c for c in model.__table__.c
                        if c.key in record.model_fields or c.key in {o.key for o in order}]
        selected = self.columns if counts is None else [*self.columns, counts.label("_counts")]
        self.page = ReadStatement(select(*selected).where(*where)
                                  .order_by(*(c.desc() for c in order)).limit(limit + 1))
        self.count = None if counts is None else ReadStatement(select(counts))
        self.keys = [c.key for c in self.columns]
        self.model: type[Page[R]] = Page[record]  # type: ignore[valid-type]
        self.limit = limit
        self.packed = bool(residual)
        self.order_keys = [o.key for o in order]
        # the JSON form: each field of the record by its column's position, timestamps as text
        self.fields = [(name, self.keys.index(name), isinstance(model.__table__.c[name].type, UTCDateTime))
                       for name in record.model_fields if name in self.keys]
        self.whole = len(self.fields) == len(record.model_fields)

    async def run(self, fetch: Fetch, params: dict[str, object], values: list[object] | None,
                  carried: int | None, kind: str) -> Page[R]:
        rows, head = await self._rows(fetch, params, values, carried, kind)
        keys = self.keys
        # One validation call for the whole page (pydantic-core loops over the items, not Python).
        return self.model.model_validate({"items": [dict(zip(keys, row, strict=False)) for row in rows], **head})

    async def run_json(self, fetch: Fetch, params: dict[str, object], values: list[object] | None,
                       carried: int | None, kind: str) -> JsonPage:
        """The page as :class:`JsonPage`, equal to what :meth:`run` returns dumped to JSON."""
        if not self.whole:  # a field with no column (a default): let the model fill it
            page = await self.run(fetch, params, values, carried, kind)
            return JsonPage(data=page.model_dump(mode="json"), text=page.model_dump_json())
        rows, head = await self._rows(fetch, params, values, carried, kind)
        fields = self.fields
        items = [{name: (json_utc(row[i]) if stamp and row[i] is not None else row[i]) for name, i, stamp in fields}
                 for row in rows]
        data = {"items": items, **head}
        return JsonPage(data=data, text=to_json(data).decode())

    async def _rows(self, fetch: Fetch, params: dict[str, object], values: list[object] | None,
                    carried: int | None, kind: str) -> tuple[list[Sequence[Any]], dict[str, Any]]:
        """The page's rows and the rest of the page (total, lower bound, has_more, next_cursor)."""
        # Core execution (``fetch``): the rows are plain tuples, and the ORM's execution path
        # (compile state, loading) costs ~1 us a row and more per statement.
        rows = await fetch(self.page, params)
        if self.count is None:
            packed = carried or 0
        elif rows:
            packed = int(rows[0][-1] or 0)
        elif values is not None:
            packed = int((await fetch(self.count, params))[0][0] or 0)
        else:
            packed = 0
        total, scanned = divmod(packed, _PACK) if self.packed else (packed, packed)
        has_more = len(rows) > self.limit
        rows = rows[:self.limit]
        next_cursor = None
        keys = self.keys
        if has_more:
            last = dict(zip(keys, rows[-1], strict=False))
            next_cursor = encode_cursor(kind, [last[key] for key in self.order_keys], packed)
        return rows, {"total": min(total, COUNT_CAP), "total_is_lower_bound": scanned > COUNT_CAP,
                      "has_more": has_more, "next_cursor": next_cursor}


_PACK = COUNT_CAP + 2  # rows looked at (<= COUNT_CAP + 1) fit below it


def _capped_counts(
    model: type[Any],
    conditions: Sequence[ColumnElement[bool]],
    residual: Sequence[ColumnElement[bool]],
    order: Sequence[InstrumentedAttribute[Any]],
) -> Any:
    """One scalar expression looking at COUNT_CAP + 1 rows at most.

    Without residual filters it is the match count up to COUNT_CAP + 1. With them it packs two numbers into one
    integer, ``matches * _PACK + looked_at``, so the index is walked once, not twice.
    """
    if not residual:
        # A probe first: is there a match past the cap? Stepping over COUNT_CAP index entries
        # with OFFSET costs a third of counting them one by one through a subquery (SQLite, 1M
        # rows: 83 vs 228 us); only a listing under the cap is then counted, and it is short.
        beyond = select(literal(1)).select_from(model).where(*conditions).limit(1).offset(COUNT_CAP)
        inner = select(literal(1)).select_from(model).where(*conditions).limit(COUNT_CAP + 1).subquery()
        counted = select(func.count()).select_from(inner).correlate(None).scalar_subquery()
        return case((beyond.correlate(None).exists(), literal(COUNT_CAP + 1)), else_=counted)
    hit = case((and_(*residual), 1), else_=0).label("hit")
    inner = (select(hit).select_from(model).where(*conditions).order_by(*(c.desc() for c in order))
             .limit(COUNT_CAP + 1).subquery())
    packed = func.coalesce(func.sum(inner.c.hit), 0) * _PACK + func.count()
    return select(packed).select_from(inner).correlate(None).scalar_subquery()
