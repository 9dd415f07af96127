"""Timezone-aware UTC timestamps in and out of the database.

PostgreSQL keeps ``timestamptz``; SQLite keeps naive text. ``UTCDateTime`` converts aware values
to UTC before storing, refuses naive ones, and attaches UTC to whatever comes back, so every
timestamp that leaves the store is aware and in UTC.
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

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
