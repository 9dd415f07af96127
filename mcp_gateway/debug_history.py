"""The debugging sessions this gateway has run, newest first, for `list_debug_sessions`.

Every session (from `debug_execution`, `approve_fix` / `reject_fix`, or the failure watcher) is
kept here from its first step on, as the same `DebugReport` the tool returned, with its steps. A
caller sees a session when it may see the session's namespace (an admin sees all); a session
whose namespace the debugger could not learn is shown only to the person who started it. The
history is bounded (``keep`` sessions, the oldest dropped) and lives in the gateway's memory:
the durable record of each session's steps is its ``debug-<stream>`` provenance stream.

Example::

    history = DebugHistory()
    history.record(report)                     # a StepObserver: called on every step
    page = history.page(principal, limit=20)   # newest first; page.next_cursor for the next one
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel, Field

from agents.ai.debugger.loop import DebugReport, Step
from mcp_gateway.models import Principal

KEEP = 1000
MAX_PAGE = 50


class DebugSessions(BaseModel):
    """`list_debug_sessions`' answer: one page of sessions, newest first, each with its steps."""

    items: list[DebugReport]
    total: int = Field(description="sessions visible to the caller (with the namespace filter)")
    next_cursor: str | None = Field(default=None, description="pass as cursor for the next, older page")


class DebugHistory:
    """Sessions by id in the order they started; ``record`` is a `StepObserver`'s ``on_step``."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._order = itertools.count(1)
        self._sessions: dict[str, tuple[int, DebugReport]] = {}

    async def on_step(self, step: Step, report: DebugReport) -> None:  # noqa: ARG002 - the StepObserver shape
        self.record(report)

    def record(self, report: DebugReport) -> None:
        """Keep ``report`` (again: the same session keeps its place and shows its latest steps)."""
        known = self._sessions.get(report.session_id)
        self._sessions[report.session_id] = (known[0] if known else next(self._order), report)
        if len(self._sessions) > self.keep:
            oldest = min(self._sessions, key=lambda key: self._sessions[key][0])
            del self._sessions[oldest]

    def page(self, principal: Principal, *, namespace: str | None = None, limit: int = 20,
             cursor: str | None = None) -> DebugSessions:
        """The sessions ``principal`` may see, newest first, at most ``limit`` (1..50) after ``cursor``."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        try:
            before = int(cursor) if cursor else None
        except ValueError:
            raise ValueError(f"cursor {cursor!r} is not one list_debug_sessions returned") from None
        visible = sorted(((order, report) for order, report in self._sessions.values()
                          if _visible(principal, report) and (namespace is None or report.namespace == namespace)),
                         key=lambda pair: -pair[0])
        after = [pair for pair in visible if before is None or pair[0] < before]
        shown = after[:limit]
        more = len(after) > limit
        return DebugSessions(items=[report for _, report in shown], total=len(visible),
                             next_cursor=str(shown[-1][0]) if more else None)


def _visible(principal: Principal, report: DebugReport) -> bool:
    if principal.is_admin:
        return True
    if report.namespace is not None:
        return principal.allows(report.namespace)
    return report.principal == principal.user
