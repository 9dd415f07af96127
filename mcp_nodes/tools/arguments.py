"""Argument types shared by the node's tools (each carries the description an LLM reads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from mcp.types import ToolAnnotations
from pydantic import AfterValidator, Field

__all__ = [
    "CONTROL", "Cursor", "DESTRUCTIVE", "EndTime", "ExecutionId", "Limit", "LogLevel",
    "NamespaceArg", "NamespaceFilter", "READ_ONLY", "Reason", "StartTime", "LEVELS",
]


def _utc(value: datetime) -> datetime:
    """Naive times are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_NS_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

NamespaceArg = Annotated[str, Field(
    pattern=_NS_PATTERN, description="testbed namespace, e.g. 'alice'")]
NamespaceFilter = Annotated[str | None, Field(pattern=_NS_PATTERN)]  # default: every granted one
ExecutionId = Annotated[str, Field(
    min_length=1, max_length=200, description="e.g. 'stf_datataking-alice-0001' (from start_workflow)")]
Reason = Annotated[str | None, Field(
    max_length=2000, description="your intent (audited)")]
Limit = Annotated[int, Field(ge=1, le=200)]
Cursor = Annotated[str | None, Field(
    max_length=500, description="from next_cursor")]
StartTime = Annotated[datetime | None, AfterValidator(lambda v: v if v is None else _utc(v))]  # ISO-8601, naive = UTC
EndTime = Annotated[datetime | None, AfterValidator(lambda v: v if v is None else _utc(v))]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LEVELS: dict[str, int] = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
CONTROL = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
DESTRUCTIVE = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=False)
