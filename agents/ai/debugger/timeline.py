"""The execution timeline: who did what, when and why, merged with what the testbed did.

One list of compact :class:`Entry` rows, oldest first, from five sources:

* ``gateway``: the gateway's call records (PROV ``gateway_call``): tool, principal, client,
  the ``reason`` argument, outcome; read calls are left out (they change nothing);
* ``node``: the node's PROV records about the execution (started, informed by the call, ended);
* ``daq``: the DAQ state machine's transitions (``system_state_events``);
* ``agent``: agent state (EXITED, restarts, the supervisor's detail such as ``killed: …``);
* ``log``: ERROR/WARNING log rows, and the supervisor's INFO lines about agents (kill, restart,
  scale, stop).

Every entry has a short ``id`` (``c1a2b3c4`` a call, ``s17`` a state event, ``l42`` a log row,
``a-<agent>`` an agent, ``x-start``/``x-end`` the execution itself); diagnoses cite those ids.

:class:`Action` is a deliberate act of a principal read off the gateway entries (a stop, kill,
scale or parameter change), which the intent rule and the policy's intent gate use.

>>> Entry(id="s1", t=datetime(2026, 1, 1, tzinfo=UTC), source="daq", kind="start_run", summary="run/physics").line()
'2026-01-01T00:00:00Z s1 daq start_run: run/physics'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

Source = Literal["gateway", "node", "daq", "agent", "log"]

DEFAULT_BUDGET_CHARS = 6000
SUMMARY_CHARS = 160
# tools whose successful call is a deliberate change a fix could undo
CONTROL_TOOLS = {"stop_workflow", "stop_testbed", "kill_agent", "send_message", "start_workflow", "start_testbed",
                 "restart_agent", "prune"}
DEBUGGER_CLIENTS = {"controlroom-debugger"}
MACHINE_PRINCIPALS = {"controlroom-watcher"}


class Entry(BaseModel):
    """One line of the timeline."""

    id: str
    t: datetime
    source: Source
    kind: str
    actor: str | None = None
    client: str | None = None
    summary: str

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}

    def size(self) -> int:
        """Characters of this entry in a JSON answer (``json.dumps`` spacing)."""
        return len(json.dumps(self.model_dump(mode="json"))) + 2

    def line(self) -> str:
        """The entry as one text line (what an LLM prompt shows)."""
        who = f" {self.actor}" + (f" via {self.client}" if self.client else "") if self.actor else ""
        stamp = self.t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"
        return f"{stamp} {self.id} {self.source} {self.kind}{who}: {self.summary}"


class Metrics(BaseModel):
    """Numbers of one execution, comparable between executions of one config."""

    execution_id: str
    status: str | None = None
    config_hash: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    duration_s: float | None = None
    phase_s: dict[str, float] = Field(default_factory=dict, description="seconds spent per DAQ state/substate")
    stf_count: int = 0
    stf_interval_s: float | None = Field(default=None, description="median gap between STF files")
    slices: dict[str, int] = Field(default_factory=dict)
    slice_latency_p50_ms: float | None = None
    slice_latency_p99_ms: float | None = None
    slices_per_s: float | None = None
    agent_restarts: int = 0
    warnings: int = 0


class Timeline(BaseModel):
    """One page of an execution's (or a testbed's) timeline, with the execution's numbers."""

    execution_id: str | None = None
    namespace: str | None = None
    status: str | None = None
    entries: list[Entry] = Field(default_factory=list)
    total: int = 0
    has_more: bool = False
    next_cursor: str | None = None
    metrics: Metrics | None = None


class Action(BaseModel):
    """A deliberate act of a principal: a stop, kill, scale, restart or (re)start with parameters."""

    entry_id: str
    tool: str
    principal: str
    client: str | None = None
    at: datetime
    reason: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)

    @property
    def verb(self) -> str:
        if self.tool == "send_message" and self.arguments.get("msg_type") == "scale_workers":
            return f"scaled the workers to {(self.arguments.get('body') or {}).get('count')} in"
        return {"stop_workflow": "stopped", "stop_testbed": "stopped the testbed", "kill_agent": "killed",
                "restart_agent": "restarted", "start_workflow": "started", "start_testbed": "started the testbed",
                "prune": "pruned"}.get(self.tool, self.tool)

    def describe(self) -> str:
        """'stopped by alice via claude-code at 10:42:07, reason: beam dump' (the intent, in words)."""
        target = self.arguments.get("execution_id") or self.arguments.get("name") or self.arguments.get("namespace")
        via = f" via {self.client}" if self.client else ""
        why = f", reason: {self.reason}" if self.reason else ", no reason given"
        what = f"{self.verb} {target}" if target and self.tool not in ("stop_workflow",) else self.verb
        return f"{what} by {self.principal}{via} at {self.at.astimezone(UTC):%H:%M:%S} ({self.entry_id}){why}"


def _clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _local(ident: str) -> str:
    from urllib.parse import unquote

    return unquote(ident.rsplit("/", 1)[-1])


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def call_entry(record_id: str, time_text: str, body: dict[str, Any]) -> tuple[Entry, dict[str, Any]] | None:
    """A gateway call record as an entry plus its arguments (None for another kind of record)."""
    tool_el = next((e for e in body.get("elements", []) if e.get("class") == "AgentTool"), None)
    if tool_el is None:
        return None
    attrs = tool_el.get("attrs", {})
    try:
        arguments = json.loads(attrs.get("arguments") or "{}")
    except ValueError:
        arguments = {}
    relations = body.get("relations", [])
    client = next((_local(r["dst"]) for r in relations if r.get("rel") == "wasAssociatedWith"), None)
    person = next((_local(r["dst"]) for r in relations if r.get("rel") == "actedOnBehalfOf"), None)
    tool = str(attrs.get("tool"))
    shown = {k: v for k, v in arguments.items() if k != "reason" and v not in (None, "", {}, [])}
    reason = arguments.get("reason")
    outcome = attrs.get("outcome", "ok")
    summary = f"{tool}({json.dumps(shown, separators=(',', ':'), default=str)})" + \
        (f" reason: {reason}" if reason else "") + ("" if outcome == "ok" else f" -> {outcome}: {attrs.get('error', '')}")
    started = tool_el.get("start") or time_text
    entry = Entry(id="c" + record_id.replace("-", "")[-8:], t=_parse_time(started), source="gateway", kind=tool,
                  actor=person, client=client, summary=_clip(summary))
    return entry, {"arguments": arguments, "outcome": outcome}


def node_entry(record_id: str, time_text: str, body: dict[str, Any]) -> Entry | None:
    """A node workflow_event record (execution started/ended) as an entry."""
    event = body.get("event")
    if event not in ("execution_started", "execution_ended"):
        return None
    attrs = next((e.get("attrs", {}) for e in body.get("elements", []) if e.get("class") == "Workflow"), {})
    informed = next((r["dst"] for r in body.get("relations", []) if r.get("rel") == "wasInformedBy"), None)
    summary = f"{attrs.get('execution_id')} {attrs.get('status', '')}".strip() + (f", informed by {informed}" if informed else "")
    return Entry(id="p" + record_id.replace("-", "")[-8:], t=_parse_time(time_text), source="node", kind=event,
                 summary=_clip(summary))


def concerns(arguments: dict[str, Any], execution_id: str | None, namespace: str | None, agents: Iterable[str]) -> bool:
    """True when a call's arguments name the execution, its namespace or one of its agents."""
    names = set(agents)
    if execution_id and arguments.get("execution_id") == execution_id:
        return True
    if namespace and arguments.get("namespace") == namespace:
        return True
    return bool(arguments.get("name") in names)


async def provenance_entries(
    store: Any, *, since: datetime, execution_id: str | None, namespace: str | None, agents: Iterable[str],
    is_read: Callable[[str], bool], max_records: int = 100_000,
) -> tuple[list[Entry], list[Action]]:
    """Entries (and deliberate actions) from a ``prov_agent`` store: gateway calls that name the
    execution, its namespace or its agents (control tools, or any call that failed), and the
    node's records about the execution; reads at most ``max_records`` records since ``since``.
    ``is_read(tool)`` says which tools only read (their successful calls are left out); the
    caller passes the scope table's answer, so this layer does not import the node contract."""
    from prov_agent.chain import time_text

    agent_names = set(agents)
    entries: list[Entry] = []
    actions: list[Action] = []
    for row in await _rows_since(store, time_text(since.timestamp()), max_records):
        body = json.loads(row.body)
        if row.kind == "workflow_event":
            found = node_entry(row.record_id, row.time, body)
            workflow = next((e.get("attrs", {}) for e in body.get("elements", []) if e.get("class") == "Workflow"), {})
            if found is not None and workflow.get("execution_id") == execution_id:
                entries.append(found)
            continue
        parsed = call_entry(row.record_id, row.time, body)
        if parsed is None:
            continue
        entry, info = parsed
        arguments, outcome = info["arguments"], info["outcome"]
        if not concerns(arguments, execution_id, namespace, agent_names):
            continue
        if outcome == "ok" and is_read(entry.kind):
            continue
        entries.append(entry)
        if outcome == "ok" and entry.kind in CONTROL_TOOLS and entry.actor and entry.client not in DEBUGGER_CLIENTS \
                and entry.actor not in MACHINE_PRINCIPALS:
            actions.append(Action(entry_id=entry.id, tool=entry.kind, principal=entry.actor, client=entry.client, at=entry.t,
                                  reason=arguments.get("reason") or None,
                                  arguments={k: v for k, v in arguments.items() if k != "reason"}))
    return entries, actions


async def _rows_since(store: Any, since: str, max_records: int, chunk: int = 2000) -> list[Any]:
    """Call and workflow records since ``since``, oldest first, read in chunks; past ``max_records``
    the oldest are dropped (the newest, e.g. the stop just made, matter most)."""
    rows: list[Any] = []
    offset = 0
    while True:
        found = await store.records(since=since, kinds=["gateway_call", "workflow_event"], limit=chunk, offset=offset)
        rows.extend(found)
        rows = rows[-max_records:]
        if len(found) < chunk:
            return rows
        offset += chunk


def actions_from(entries: Iterable[Entry], arguments: dict[str, dict[str, Any]] | None = None) -> list[Action]:
    """Deliberate actions of principals among gateway entries (re-read from a served timeline).

    ``arguments`` maps entry ids to call arguments when known; otherwise they are parsed back
    from the entry's summary (``tool({...}) reason: …``).
    """
    found: list[Action] = []
    for entry in entries:
        if entry.source != "gateway" or entry.kind not in CONTROL_TOOLS or not entry.actor or "->" in entry.summary:
            continue
        if entry.client in DEBUGGER_CLIENTS or entry.actor in MACHINE_PRINCIPALS:
            continue
        args = dict((arguments or {}).get(entry.id) or _arguments_of(entry.summary))
        reason = entry.summary.split(" reason: ", 1)[1] if " reason: " in entry.summary else None
        found.append(Action(entry_id=entry.id, tool=entry.kind, principal=entry.actor, client=entry.client, at=entry.t,
                            reason=reason, arguments=args))
    return found


def _arguments_of(summary: str) -> dict[str, Any]:
    start, end = summary.find("("), summary.find(") reason: ")
    text = summary[start + 1 : end if end >= 0 else summary.rfind(")")]
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def merge(*lists: Iterable[Entry]) -> list[Entry]:
    """One list, oldest first, each id once."""
    seen: dict[str, Entry] = {}
    for entries in lists:
        for entry in entries:
            seen.setdefault(entry.id, entry)
    return sorted(seen.values(), key=lambda e: (e.t, e.id))


def collapse(entries: list[Entry]) -> list[Entry]:
    """Runs of the same source/kind/summary become one entry ending ``(×N)``."""
    out: list[Entry] = []
    count = 1
    for entry in entries:
        last = out[-1] if out else None
        if last is not None and (last.source, last.kind, last.actor) == (entry.source, entry.kind, entry.actor) \
                and last.summary.split(" (×")[0] == entry.summary and entry.source in ("daq", "log"):
            count += 1
            out[-1] = last.model_copy(update={"summary": f"{entry.summary} (×{count})"})
            continue
        count = 1
        out.append(entry)
    return out


def page(
    entries: list[Entry], *, offset: int = 0, limit: int = 50, budget_chars: int = DEFAULT_BUDGET_CHARS,
    reserved_chars: int = 0,
) -> tuple[list[Entry], bool, int]:
    """A page of entries from ``offset`` that fits ``limit`` and ``budget_chars`` of JSON
    (``reserved_chars`` for the rest of the answer); returns (entries, has_more, next offset)."""
    chosen: list[Entry] = []
    used = reserved_chars
    for entry in entries[offset : offset + limit]:
        size = entry.size()
        if chosen and used + size > budget_chars:
            break
        chosen.append(entry)
        used += size
    end = offset + len(chosen)
    return chosen, end < len(entries), end


def render(entries: Iterable[Entry], budget_chars: int) -> str:
    """Entries as text lines, newest kept when the budget is short (an LLM prompt)."""
    lines = [e.line() for e in entries]
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        if used + len(line) + 1 > budget_chars:
            kept.append(f"… {len(lines) - len(kept)} older entries left out")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(reversed(kept))
