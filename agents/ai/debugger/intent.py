"""Intent: deliberate actions of principals, what they explain, and which fixes would undo them.

A stop, kill, scale or parameter change made by a person (through any client) is not a failure
to repair. ``stop_explaining`` finds the stop behind a terminated execution or a stopped testbed;
``kills_of`` the kills behind EXITED agents; ``undone_by`` the recent action a proposed fix would
undo, so that the policy turns such a fix from AUTO into ASK (naming the action).

>>> from datetime import UTC, datetime
>>> a = Action(entry_id="c1", tool="kill_agent", principal="alice", client="claude-code",
...            at=datetime(2026, 1, 1, 10, 42, 7, tzinfo=UTC), reason="swap host", arguments={"name": "fastmon-1"})
>>> a.describe()
'killed fastmon-1 by alice via claude-code at 10:42:07 (c1), reason: swap host'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agents.ai.debugger.evidence import Evidence
from agents.ai.debugger.timeline import Action

if TYPE_CHECKING:
    from agents.ai.debugger.rules import FixProposal

__all__ = ["Action", "kills_of", "scale_downs", "stop_explaining", "undone_by"]

STOP_SLACK = timedelta(seconds=30)  # a stop's call record ends after the execution closed


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def stop_explaining(ev: Evidence) -> Action | None:
    """The principal's stop behind a terminated execution (stop_workflow of it, stop_testbed of its
    namespace) or, without an execution, behind the namespace's stopped testbed; the latest wins."""
    execution = ev.execution or {}
    if ev.execution_id is not None:
        if execution.get("status") != "terminated":
            return None
        ended = _when(execution.get("end_time"))
        found = [a for a in ev.actions if (a.tool == "stop_workflow" and a.arguments.get("execution_id") == ev.execution_id)
                 or (a.tool == "stop_testbed" and a.arguments.get("namespace") == ev.namespace)]
        found = [a for a in found if ended is None or a.at <= ended + STOP_SLACK]
        return found[-1] if found else None
    testbed = ev.testbed or {}
    stopped = testbed.get("status") in ("stopped", None) or "not running" in ev.tool_errors.get("get_testbed_status", "")
    if not stopped:
        return None
    found = [a for a in ev.actions if a.tool == "stop_testbed" and a.arguments.get("namespace") == ev.namespace]
    return found[-1] if found else None


def kills_of(ev: Evidence, names: list[str]) -> dict[str, Action]:
    """The latest kill_agent of each named agent by a principal (agents not killed are left out)."""
    found: dict[str, Action] = {}
    for action in ev.actions:
        if action.tool == "kill_agent" and action.arguments.get("name") in names:
            found[action.arguments["name"]] = action
    return found


def scale_downs(ev: Evidence) -> list[Action]:
    """Principals' scale_workers messages to the namespace (the pool size they chose)."""
    return [a for a in ev.actions if a.tool == "send_message" and a.arguments.get("msg_type") == "scale_workers"
            and a.arguments.get("namespace") in (None, ev.namespace)]


def undone_by(proposal: FixProposal, ev: Evidence, window: timedelta, now: datetime | None = None) -> Action | None:
    """The most recent action (within ``window``) that applying ``proposal`` would undo, or None."""
    now = now or datetime.now(UTC)
    recent = [a for a in ev.actions if now - a.at <= window]
    args = proposal.arguments
    namespace = args.get("namespace") or ev.namespace

    def matches(action: Action) -> bool:
        target = action.arguments
        if proposal.fix == "restart_agent":
            return (action.tool == "kill_agent" and target.get("name") == args.get("name")) or \
                (action.tool == "stop_testbed" and target.get("namespace") == namespace)
        if proposal.fix == "restart_testbed":
            return action.tool in ("stop_testbed", "kill_agent") and \
                (target.get("namespace") == namespace or target.get("name") in {a.name for a in ev.agents})
        if proposal.fix == "scale_workers":
            return action in scale_downs(ev)
        if proposal.fix == "rerun_with_parameter":
            return action.tool == "start_workflow" and args.get("parameter") in (target.get("parameters") or {})
        return False

    found = [a for a in recent if matches(a)]
    return found[-1] if found else None
