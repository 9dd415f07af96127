"""Timezone-aware UTC timestamps in and out of the database.

PostgreSQL keeps ``timestamptz``; SQLite keeps naive text. ``UTCDateTime`` converts aware values
to UTC before storing, refuses naive ones, and attaches UTC to whatever comes back, so every
timestamp that leaves the store is aware and in UTC.

On SQLite a timestamp comes back as text; :func:`sqlite_utc` turns it into an aware datetime in
one call per value, where SQLAlchemy's chain (parse the text, then the decorator's
``process_result_value``) takes three Python calls and a ``replace(tzinfo=...)`` (1 us, five
times the parse): a 200-row log page has 200 of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime, field: str = "timestamp") -> datetime:
    """``value`` converted to UTC; a naive datetime is an error naming ``field``."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        from workflows.store.errors import InvalidQuery

        raise InvalidQuery(
            field, f"{value.isoformat()} has no timezone; pass an aware datetime (e.g. with tzinfo=UTC)"
        )
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or not isinstance(value, datetime):
            return value
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name == "sqlite":
            return sqlite_utc
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def sqlite_utc(value: str | None) -> datetime | None:
    """SQLite's text for a timestamp as an aware UTC datetime (what SQLAlchemy's SQLite
    ``DATETIME`` and :meth:`UTCDateTime.process_result_value` make of it together).

    >>> sqlite_utc("2026-11-30 19:40:18.123000")
    datetime.datetime(2026, 11, 30, 19, 40, 18, 123000, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    try:
        parsed = _parse(value + "+00:00")  # naive UTC text, as stored: parsed aware in one step
    except ValueError:  # text with an offset of its own
        parsed = _parse(value)
    if parsed.tzinfo is UTC:
        return parsed
    # a bare date (Python drops the offset after one) or another offset
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_parse = datetime.fromisoformat


def json_utc(value: datetime) -> str:
    """An aware UTC datetime as pydantic writes it in JSON: ``Z`` for UTC, the microseconds only
    when there are some (``datetime.isoformat`` drops them the same way).

    >>> json_utc(datetime(2026, 11, 30, 19, 40, 18, 123000, tzinfo=UTC))
    '2026-11-30T19:40:18.123000Z'
    >>> json_utc(datetime(2026, 11, 30, 19, 40, 18, tzinfo=UTC))
    '2026-11-30T19:40:18Z'
    """
    text = value.isoformat()
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    from pydantic_core import to_jsonable_python

    return str(to_jsonable_python(value))  # not UTC: pydantic's own form
