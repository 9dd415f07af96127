"""Agent control: restart and kill a testbed's agents, scale its slice workers, send control messages.

Agents are found by name across the running testbeds; a ``scale_workers`` message on a
namespace's testbed_control topic (from a caller, or from the fast processing agent) resizes its
worker pool, bounded by the node's limits and ``worker_limit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from agents.testbed.bus.base import Delivery
from agents.testbed.errors import AgentNotFound, InvalidRequest, TestbedNotRunning
from agents.testbed.framework.destinations import Destinations
from agents.testbed.manager.state import ManagerState, RunningTestbed, check_namespace
from agents.testbed.pipeline_messages import ScaleWorkers
from workflows.store.records import AgentRecord

RESTART_READY_WAIT_S = 30.0

__all__ = ["AgentControl"]


class AgentControl:
    """Restarts, kills and scales the agents of the manager's testbeds; sends them messages."""

    def __init__(self, state: ManagerState) -> None:
        self.state = state
        self.store = state.store

    def find(self, name: str) -> RunningTestbed:
        """The running testbed the agent ``name`` belongs to; :class:`AgentNotFound` otherwise."""
        for testbed in self.state.testbeds.values():
            if name in testbed.supervisor.agents:
                return testbed
        raise AgentNotFound(name)

    async def restart_agent(self, name: str, reason: str | None = None) -> AgentRecord:
        """Stop an agent cleanly and start it again; returns its record once it is READY (or after 30 s)."""
        testbed = self.find(name)
        await testbed.supervisor.restart(name, reason)
        deadline = time.monotonic() + RESTART_READY_WAIT_S
        while time.monotonic() < deadline:
            entry = testbed.supervisor.agents.get(name)
            beat = testbed.beats.get(name)
            if entry is not None and entry.runner is not None and entry.runner.is_alive() and beat is not None \
                    and beat.status in ("READY", "PROCESSING") and beat.pid == entry.runner.pid \
                    and beat.timestamp.timestamp() >= entry.started_wall:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await testbed.changed.wait()
        await self.state.record(testbed)
        return await self.store.agents.get_agent(name)

    async def kill_agent(self, name: str, reason: str | None = None) -> AgentRecord:
        """End an agent at once (SIGKILL for a process) and keep it down until restart_agent; it is
        marked EXITED and the testbed reports not ready."""
        testbed = self.find(name)
        await testbed.supervisor.kill(name, reason)
        testbed.beats.pop(name, None)
        await self.state.record(testbed)
        return await self.store.agents.get_agent(name)

    async def send_message(self, namespace: str, msg_type: str, body: dict[str, Any], reason: str | None = None) -> None:
        """Publish a control message on the namespace's testbed_control topic."""
        check_namespace(namespace)
        if not msg_type or not msg_type.replace("_", "").isalnum():
            raise InvalidRequest(f"msg_type {msg_type!r} is not valid: use letters, digits and '_', e.g. 'scale_workers'")
        if namespace not in self.state.testbeds:
            raise TestbedNotRunning(namespace)
        message = {**body, "msg_type": msg_type, "namespace": namespace,
                   "timestamp": datetime.now(UTC).isoformat(), "reason": reason or body.get("reason") or ""}
        if msg_type == "scale_workers":
            try:
                scale = ScaleWorkers.model_validate(message)
            except ValueError as exc:
                raise InvalidRequest(f"body: a scale_workers message needs count (an integer >= 0): {exc}") from exc
            self.state.limits.check("body.count", scale.count, "max_worker_count", what="workers")
        await self.state.connected_bus().publish(Destinations.of(namespace).testbed_control, message, persistent=False)

    async def on_control(self, testbed: RunningTestbed, delivery: Delivery) -> None:
        """A message on the testbed_control topic: ``scale_workers`` resizes the worker pool."""
        if delivery.body.get("msg_type") != "scale_workers":
            return
        message = ScaleWorkers.model_validate(delivery.body)
        wanted = self.state.bounded(message.count)
        size = await testbed.supervisor.scale_workers(wanted, message.reason)
        await self.state.record(testbed)
        testbed.notify()
        self.state.log.info("namespace %s: worker pool is %d (asked %d)", testbed.namespace, size, message.count)
