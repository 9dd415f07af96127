"""Jinja filters for the monitor's templates: ages, times and durations from the tools' ISO strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """A timezone-aware datetime from an ISO string (or a datetime); None when absent."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(value: Any, now: datetime | None = None) -> str:
    """``3.2 s ago`` / ``4 min ago``; ``never`` without a time."""
    moment = parse_time(value)
    if moment is None:
        return "never"
    seconds = max(((now or datetime.now(UTC)) - moment).total_seconds(), 0.0)
    if seconds < 120:
        return f"{seconds:.1f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def clock(value: Any) -> str:
    """``2026-11-30 09:15:04`` (UTC), or an empty string."""
    moment = parse_time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def seconds(value: Any) -> str:
    """A duration in seconds, short."""
    if value is None:
        return ""
    number = float(value)
    return f"{number:.3f} s" if number < 10 else f"{number:.1f} s"


FILTERS = {"age": age, "clock": clock, "seconds": seconds}
