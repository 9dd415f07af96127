"""Lease watching: a node whose heartbeats stop for a lease is probed, and marked down if the
probe fails too. Calls that cannot connect to a node trigger the same probe at once."""

from __future__ import annotations

import logging
import time

import anyio

from mcp_gateway.forwarding import NodeClients
from mcp_gateway.registry import Registry

log = logging.getLogger(__name__)


class HealthMonitor:
    """Run `watch` in the gateway's lifespan task group."""

    def __init__(self, registry: Registry, clients: NodeClients, probe_timeout_s: float) -> None:
        self.registry = registry
        self.clients = clients
        self.probe_timeout_s = probe_timeout_s

    @property
    def period_s(self) -> float:
        return min(self.registry.heartbeat_s, self.registry.lease_s / 5)

    async def confirm_down(self, name: str) -> None:
        """Probe ``name``; mark it down when the probe fails."""
        state = self.registry.nodes.get(name)
        if state is None or state.health != "up":
            return
        if not await self.clients.probe(state, self.probe_timeout_s):
            log.warning("node %s is down (lease lapsed or unreachable, probe failed)", name)
            await self.registry.mark_down(name)

    async def sweep(self) -> None:
        """Probe every up node whose lease has lapsed, in parallel."""
        now = time.monotonic()
        lapsed = [s.name for s in self.registry.healthy() if now - s.beat_monotonic > self.registry.lease_s]
        if lapsed:
            async with anyio.create_task_group() as group:
                for name in lapsed:
                    group.start_soon(self.confirm_down, name)

    async def watch(self) -> None:
        while True:
            await anyio.sleep(self.period_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("health sweep failed")
