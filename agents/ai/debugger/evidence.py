"""Evidence: what the debugging agent knows about a failure, gathered through read-only tools.

``ToolCaller`` is the agent's only access to the system (the gateway's or a node's MCP tools),
so the same code debugs a local node or a remote one. ``gather`` calls the read-only tools,
normalises their answers into ``Evidence``, and keeps going when a tool fails: the failure
itself is evidence (``tool_errors``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field

from agents.ai.debugger.timeline import Action, Entry, Metrics, actions_from, merge


class ToolFailed(Exception):
    """A tool answered with an error (``isError``); the message is the tool's."""


class ToolCaller(Protocol):
    """Calls one MCP tool and returns its structured result; raises ``ToolFailed`` on ``isError``."""

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]: ...


class ProvenanceSource(Protocol):
    """Entries and deliberate actions from a provenance store (the gateway's call records)."""

    async def __call__(self, *, since: datetime, execution_id: str | None, namespace: str | None,
                       agents: list[str]) -> tuple[list[Entry], list[Action]]: ...


class AgentView(BaseModel):
    name: str
    agent_type: str = ""
    status: str = ""
    last_heartbeat: datetime | None = None
    restarts: int = 0


class LogView(BaseModel):
    id: int | None = None
    agent: str = ""
    levelname: str = ""
    message: str = ""
    created_at: datetime | None = None


class Evidence(BaseModel):
    """A snapshot of the execution, its testbed, agents, warnings and errors."""

    namespace: str | None = None
    execution_id: str | None = None
    execution: dict[str, Any] | None = None
    monitor: dict[str, Any] | None = None
    testbed: dict[str, Any] | None = None
    agents: list[AgentView] = Field(default_factory=list)
    logs: list[LogView] = Field(default_factory=list)
    tool_errors: dict[str, str] = Field(default_factory=dict)
    timeline: list[Entry] = Field(default_factory=list, description="who did what and what the testbed did, oldest first")
    actions: list[Action] = Field(default_factory=list, description="deliberate acts of principals found in the timeline")
    metrics: Metrics | None = None
    baseline: list[Metrics] = Field(default_factory=list, description="the same config's previous executions")
    collected_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def texts(self) -> list[str]:
        """Every error text seen: the execution's error, WARNING+ log messages, tool failures."""
        found = [log.message for log in self.logs]
        if self.execution and self.execution.get("error"):
            found.append(str(self.execution["error"]))
        found.extend(self.tool_errors.values())
        return found

    def mentions(self, *needles: str) -> str | None:
        """The first text that contains any of ``needles`` (case-insensitive), or None."""
        lowered = [n.lower() for n in needles]
        for text in self.texts():
            low = text.lower()
            if any(n in low for n in lowered):
                return text
        return None

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self.timeline if e.id == entry_id), None)

    @property
    def status(self) -> str | None:
        return None if self.execution is None else self.execution.get("status")

    @property
    def parameters(self) -> dict[str, Any]:
        if not self.execution:
            return {}
        return dict(self.execution.get("parameters") or {})


async def _try(tools: ToolCaller, evidence: Evidence, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return await tools.call(name, arguments)
    except ToolFailed as exc:
        evidence.tool_errors[name] = str(exc)
        return None


async def gather(
    tools: ToolCaller, *, execution_id: str | None = None, namespace: str | None = None,
    provenance: ProvenanceSource | None = None,
) -> Evidence:
    """Collect evidence about an execution (or, without one, a namespace's testbed), its timeline
    included; ``provenance`` adds the gateway's own call records to the node's timeline."""
    evidence = Evidence(execution_id=execution_id, namespace=namespace)
    if execution_id is not None:
        evidence.execution = await _try(tools, evidence, "get_workflow_execution",
                                       {"execution_id": execution_id, "include_config": True})
        if evidence.execution:
            evidence.namespace = evidence.namespace or evidence.execution.get("namespace")
        evidence.monitor = await _try(tools, evidence, "get_workflow_monitor", {"execution_id": execution_id})
    if evidence.namespace is not None:
        evidence.testbed = await _try(tools, evidence, "get_testbed_status", {"namespace": evidence.namespace})
        agents = await _try(tools, evidence, "list_agents", {"namespace": evidence.namespace, "limit": 200})
        evidence.agents = [AgentView.model_validate(a) for a in (agents or {}).get("items", [])]
        log_filter: dict[str, Any] = {"level": "WARNING", "limit": 100}
        if execution_id is not None:
            log_filter["execution_id"] = execution_id
        else:
            log_filter["namespace"] = evidence.namespace
        logs = await _try(tools, evidence, "list_logs", log_filter)
        evidence.logs = [LogView.model_validate(entry) for entry in (logs or {}).get("items", [])]
    await _timeline(tools, evidence, provenance)
    return evidence


TIMELINE_WINDOW = timedelta(hours=1)


async def _timeline(tools: ToolCaller, evidence: Evidence, provenance: ProvenanceSource | None) -> None:
    """The whole timeline (every page, bounded) and the deliberate actions in it."""
    target = {"execution_id": evidence.execution_id} if evidence.execution_id else {"namespace": evidence.namespace}
    if not any(target.values()):
        return
    entries: list[Entry] = []
    cursor: str | None = None
    for _ in range(10):
        page = await _try(tools, evidence, "get_execution_timeline",
                          {**target, "limit": 500, "budget_chars": 100_000, **({"cursor": cursor} if cursor else {})})
        if page is None:
            break
        entries.extend(Entry.model_validate(e) for e in page.get("entries", []))
        if page.get("metrics") and evidence.metrics is None:
            evidence.metrics = Metrics.model_validate(page["metrics"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    actions = actions_from(entries)
    # the gateway's records only about what the caller could read: an execution the node showed it
    # (a namespace was checked by the caller's grants before the session started)
    visible = evidence.execution is not None if evidence.execution_id is not None else evidence.namespace is not None
    if provenance is not None and visible:
        start = (evidence.execution or {}).get("start_time")
        since = datetime.fromisoformat(str(start).replace("Z", "+00:00")) - timedelta(minutes=2) if start \
            else datetime.now(UTC) - TIMELINE_WINDOW
        agents = [a.name for a in evidence.agents]
        extra, extra_actions = await provenance(since=since, execution_id=evidence.execution_id,
                                                namespace=evidence.namespace, agents=agents)
        entries = merge(entries, extra)
        known = {a.entry_id for a in actions}
        actions += [a for a in extra_actions if a.entry_id not in known]
    evidence.timeline = merge(entries)
    evidence.actions = sorted(actions, key=lambda a: a.at)
