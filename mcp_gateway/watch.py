"""The failure watcher: starts a debugging session when something fails, without being asked.

Every ``interval_s`` it asks each healthy node (through the gateway's own call chain, as the
principal ``controlroom-watcher`` with every namespace) for its system state and its recently
failed executions, and debugs:

* an execution that failed since the watcher started, once;
* a running execution whose evidence a rule of the failure catalog already explains (stuck,
  slice backlog, payload errors, …) — the rules run on the evidence first, so a healthy run
  costs a few read-only calls and leaves no debugging record;
* a running testbed that is not ready (an agent EXITED or never ready).

Each subject is debugged at most once per ``cooldown_s``. What the policy allows is fixed; the
rest waits in the same approvals as `debug_execution`'s (`list_pending_fixes`, `approve_fix`).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from agents.ai.debugger.evidence import ToolFailed, gather
from agents.ai.debugger.loop import DebugReport
from agents.ai.debugger.rules import diagnose
from mcp_gateway.debugging import DebugService, GatewayToolCaller
from mcp_gateway.models import Principal
from mcp_gateway.registry import Registry

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=1)  # failed executions that started this long before the watcher still count
WATCHER = Principal(user="controlroom-watcher", namespaces=["*"], scopes=["read", "operate", "admin"])
"""The gateway's own debugging principal: every namespace, and admin for the disk-full fix (prune)."""


class FailureWatcher:
    """Polls the nodes and debugs what failed (see the module docstring)."""

    def __init__(self, registry: Registry, service: DebugService, interval_s: float, cooldown_s: float = 120.0) -> None:
        self.registry = registry
        self.service = service
        self.interval_s = interval_s
        self.cooldown_s = cooldown_s
        self.tools = GatewayToolCaller(service.handler, service.catalog, WATCHER)
        self.reports: list[DebugReport] = []
        self._last: dict[tuple[str, str], float] = {}
        self._started = datetime.now(UTC)
        self._seen_failed: set[str] = set()

    async def run(self) -> None:
        """Watch until cancelled; a failed look is logged, never fatal."""
        while True:
            await anyio.sleep(self.interval_s)
            try:
                await self.look()
            except Exception:
                log.exception("the failure watcher's look failed")

    async def look(self) -> list[DebugReport]:
        """One look at every healthy node; returns the sessions it started."""
        started: list[DebugReport] = []
        for node in self.registry.healthy():
            try:
                subjects = await self._subjects(node.info.name)
            except ToolFailed as error:
                log.warning("watcher: node %s did not answer: %s", node.info.name, error)
                continue
            for kind, value in subjects:
                if self._cooling(kind, value):
                    continue
                debugger = self.service.debugger_for(WATCHER)
                report = await (debugger.debug(execution_id=value, principal=WATCHER.user) if kind == "execution"
                                else debugger.debug(namespace=value, principal=WATCHER.user))
                log.info("watcher debugged %s %s: %s", kind, value, report.outcome)
                started.append(report)
        self.reports.extend(started)
        return started

    async def _subjects(self, node: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        failed = await self.tools.call("list_workflow_executions", {
            "node": node, "status": "failed", "start_time": (self._started - LOOKBACK).isoformat(), "limit": 50})
        for execution in failed.get("items", []):
            ended = execution.get("end_time")
            if execution["execution_id"] in self._seen_failed or not ended or datetime.fromisoformat(ended) < self._started:
                continue
            self._seen_failed.add(execution["execution_id"])
            found.append(("execution", execution["execution_id"]))
        state = await self.tools.call("get_system_state", {"node": node})
        for testbed in state.get("testbeds", []):
            if not testbed.get("ready") and testbed.get("status") not in ("starting", "stopping", "stopped"):
                found.append(("namespace", testbed["namespace"]))
        for execution in state.get("running_executions", []):
            if await self._explained(execution):
                found.append(("execution", execution["execution_id"]))
        return found

    async def _explained(self, execution: dict[str, Any]) -> bool:
        evidence = await gather(self.tools, execution_id=execution["execution_id"])
        return diagnose(evidence) is not None

    def _cooling(self, kind: str, value: str) -> bool:
        now = time.monotonic()
        last = self._last.get((kind, value))
        if last is not None and now - last < self.cooldown_s:
            return True
        self._last[(kind, value)] = now
        return False
