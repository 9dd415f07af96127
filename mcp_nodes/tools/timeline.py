"""Timeline tool: ``get_execution_timeline``, who did what and what the testbed did, on one page.

The node merges, oldest first: the execution's own start and end (who started it, with which
reason), the provenance records about it and the gateway's call records that name it, its
namespace or its agents (when the node's provenance store holds them: a local ``controlroom up``
shares one), the DAQ state events, the agents' state, and ERROR/WARNING log rows plus the
supervisor's lines about agents (kill, restart, scale, stop). The entry shape and the merge live
in ``agents.ai.debugger.timeline``; the gateway's debugger adds its own call records the same way.

The first page also carries the execution's numbers (``metrics``): phase durations, STF cadence,
slice latency and throughput, failures, agent restarts: what the debugger compares between
executions of one config. A page fits ``budget_chars`` (6,000 by default) of JSON.
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from agents.testbed.errors import InvalidRequest
from agents.ai.debugger.timeline import (
    DEFAULT_BUDGET_CHARS, Entry, Metrics, Timeline, collapse, merge, page, provenance_entries,
)
from mcp_nodes.auth import current_identity, require_namespace, require_visible
from mcp_nodes.contract.scopes import reads_only
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import READ_ONLY, Cursor
from workflows.store.records import ExecutionRecord

__all__ = ["register"]

NAMESPACE_WINDOW = timedelta(hours=1)
BEFORE_START = timedelta(minutes=2)  # the start_testbed / start_workflow calls just before the execution
MAX_ROWS = 1000
_SUPERVISOR_WORDS = ("killing ", "restarting ", "scaling workers", "testbed ", "; restart ", "stop requested",
                     "reconnected to ")


async def _all(fetch: Any, **filters: Any) -> list[Any]:
    """Every row of a paged store query, newest first, at most ``MAX_ROWS``."""
    rows: list[Any] = []
    cursor: str | None = None
    while len(rows) < MAX_ROWS:
        found = await fetch(limit=200, cursor=cursor, **filters)
        rows.extend(found.items)
        if not found.has_more:
            break
        cursor = found.next_cursor
    return rows


def _agent_entries(agents: list[Any]) -> list[Entry]:
    out = []
    for agent in agents:
        if agent.status in ("READY", "PROCESSING", "IDLE") and not agent.restarts:
            continue
        detail = f" ({agent.detail})" if agent.detail else ""
        out.append(Entry(id=f"a-{agent.name}", t=agent.last_heartbeat, source="agent", kind=agent.status, actor=agent.name,
                         summary=f"{agent.agent_type} {agent.status}{detail}, restarts {agent.restarts}"[:160]))
    return out


def _log_entries(logs: list[Any]) -> list[Entry]:
    out = []
    for row in logs:
        if row.level < 30 and not any(word in row.message for word in _SUPERVISOR_WORDS):
            continue
        out.append(Entry(id=f"l{row.id}", t=row.created_at, source="log", kind=row.levelname, actor=row.agent,
                         summary=" ".join(row.message.split())[:160]))
    return out


def _execution_entries(record: ExecutionRecord) -> list[Entry]:
    params = ",".join(f"{k}={v}" for k, v in sorted(record.parameters.items()))
    why = f"reason: {record.reason}; " if record.reason else ""
    out = [Entry(id="x-start", t=record.start_time, source="node", kind="execution_started", actor=record.executed_by,
                 summary=f"{why}{record.workflow_name} config {record.config_hash[:8]} params {params}"[:240])]
    if record.end_time is not None:
        out.append(Entry(id="x-end", t=record.end_time, source="node", kind=f"execution_{record.status}",
                         summary=f"{record.status}" + (f": {record.error}" if record.error else "")))
    return out


async def execution_metrics(services: NodeServices, record: ExecutionRecord, events: list[Any] | None = None,
                            logs: list[Any] | None = None) -> Metrics:
    """The numbers of one execution (phase durations, STF cadence, slices, latency, restarts)."""
    store = services.store
    if events is None:
        events = await _all(store.events.list_state_events, execution_id=record.execution_id)
    ordered = sorted(events, key=lambda e: (e.timestamp, e.id))
    end = record.end_time or datetime.now(UTC)
    phases: dict[str, float] = {}
    for here, after in zip(ordered, [*ordered[1:], None], strict=False):
        stop = after.timestamp if after is not None else end
        key = f"{here.state}/{here.substate}" if here.substate else here.state
        phases[key] = round(phases.get(key, 0.0) + max((stop - here.timestamp).total_seconds(), 0.0), 3)
    stfs = sorted(s.created_at for s in await _all(store.runs.list_stf, execution_id=record.execution_id))
    gaps = [(b - a).total_seconds() for a, b in zip(stfs, stfs[1:], strict=False)]
    monitor = await services.manager.monitor(record.execution_id)
    duration = monitor.duration_s
    done = monitor.slices.get("done", 0)
    if logs is None:
        logs = await _all(store.logs.list_log_lines, execution_id=record.execution_id, min_level=30)
    return Metrics(
        execution_id=record.execution_id, status=record.status, config_hash=record.config_hash,
        parameters=dict(record.parameters), duration_s=duration, phase_s=phases, stf_count=record.stf_count,
        stf_interval_s=round(statistics.median(gaps), 4) if gaps else None,
        slices={k: v for k, v in monitor.slices.items() if v}, slice_latency_p50_ms=monitor.slice_latency_p50_ms,
        slice_latency_p99_ms=monitor.slice_latency_p99_ms,
        slices_per_s=round(done / duration, 3) if duration and done else None,
        agent_restarts=sum(1 for row in logs if "; restart " in row.message),
        warnings=sum(1 for row in logs if row.level >= 30),
    )


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add get_execution_timeline to ``mcp``."""
    store = services.store

    @mcp.tool(annotations=READ_ONLY)
    async def get_execution_timeline(
        execution_id: Annotated[str | None, Field(min_length=1, max_length=200,
                                                  description="the execution, e.g. 'stf_datataking-alice-0001'")] = None,
        namespace: Annotated[str | None, Field(max_length=63, description="without execution_id: the testbed's last hour")] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        budget_chars: Annotated[int, Field(ge=1000, le=100_000, description="page size in JSON characters")] = DEFAULT_BUDGET_CHARS,
        cursor: Cursor = None,
    ) -> Timeline:
        """Who did what, when and why (gateway calls with reasons), merged with the testbed's
        events, agent states, errors and restarts; oldest first, each entry with an id to cite.
        The first page has the execution's metrics."""
        identity = current_identity()
        if execution_id is None and namespace is None:
            raise InvalidRequest("give execution_id (e.g. 'stf_datataking-alice-0001') or namespace (a testbed's last hour)")
        record: ExecutionRecord | None = None
        if execution_id is not None:
            record = await store.executions.get(execution_id)
            require_visible(identity, record.namespace, "execution", execution_id)
            namespace = record.namespace
            since = record.start_time - BEFORE_START
        else:
            assert namespace is not None
            require_namespace(identity, namespace)
            since = datetime.now(UTC) - NAMESPACE_WINDOW
        try:
            offset = int(cursor) if cursor else 0
        except ValueError:
            raise InvalidRequest(f"cursor {cursor!r} is not a next_cursor of this tool; omit it for the first page") from None
        agents = await _all(store.agents.list_agents, namespace=namespace)
        events = await _all(store.events.list_state_events, execution_id=execution_id) if record else \
            await _all(store.events.list_state_events, namespace=namespace, start_time=since)
        until = record.end_time + timedelta(minutes=1) if record is not None and record.end_time else None
        logs = await _all(store.logs.list_log_lines, namespace=namespace, min_level=20, start_time=since, end_time=until)
        if record is not None:
            logs = [row for row in logs if row.execution_id in (None, execution_id)]
        prov: list[Entry] = []
        if services.linker is not None:
            prov, _ = await provenance_entries(
                services.linker.recorder.writer.store, since=since, execution_id=execution_id, namespace=namespace,
                agents=[a.name for a in agents], is_read=reads_only)
        daq = [Entry(id=f"s{e.id}", t=e.timestamp, source="daq", kind=e.event_type,
                     summary=(f"{e.state}/{e.substate}" if e.substate else e.state)
                     + (f" reason: {e.data['reason']}" if e.data.get("reason") else "")) for e in events]
        entries = collapse(merge(_execution_entries(record) if record else [], prov, daq, _agent_entries(agents),
                                 _log_entries(logs)))
        metrics = None
        if record is not None and offset == 0:
            metrics = await execution_metrics(services, record, events, [row for row in logs if row.level >= 30])
        reserved = 300 + (len(json.dumps(metrics.model_dump(mode="json"))) if metrics else 0)
        chosen, more, end = page(entries, offset=offset, limit=limit, budget_chars=budget_chars, reserved_chars=reserved)
        return Timeline(execution_id=execution_id, namespace=namespace, status=record.status if record else None,
                        entries=chosen, total=len(entries), has_more=more, next_cursor=str(end) if more else None,
                        metrics=metrics)
