"""What the testbed manager's parts share: the node's settings, the bus, and the running testbeds.

One :class:`ManagerState` per manager; the lifecycle, execution control and agent control hold
the same instance. A :class:`RunningTestbed` is one namespace's testbed in memory: its
supervisor, the last heartbeat of each agent, and the events ``wait_for_execution`` wakes on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agents.testbed.errors import InvalidRequest, TestbedNotRunning
from agents.testbed.framework.destinations import Destinations
from agents.testbed.framework.supervisor import Supervisor
from agents.testbed.pipeline_messages import ExecutionStatusChanged, Heartbeat
from workflows.limits import Limits

if TYPE_CHECKING:
    from agents.tasks.pool import TaskWorkerPool
    from agents.testbed.bus.base import Bus, Subscription
    from workflows.store.store import Store
    from workflows.tasks.sandbox import Sandbox

Mode = Literal["inprocess", "process"]
TestbedPhase = Literal["starting", "ready", "stopping", "stopped", "failed"]
CORE_AGENT = "workflow_runner"
"""The agent every testbed runs; the testbed config enables the others."""

__all__ = ["CORE_AGENT", "ManagerState", "Mode", "RunningTestbed", "check_namespace"]


@dataclass
class RunningTestbed:
    """A running testbed (in memory)."""

    __test__ = False

    namespace: str
    config: str
    mode: Mode
    started_by: str
    started_at: datetime
    supervisor: Supervisor
    agent_types: set[str]
    subscriptions: list[Subscription] = field(default_factory=list)
    beats: dict[str, Heartbeat] = field(default_factory=dict)
    drained: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    ends: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    status: TestbedPhase = "starting"
    task_workers: TaskWorkerPool | None = None

    def notify(self) -> None:
        """Wake everything waiting on ``changed`` (a new event replaces the set one)."""
        self.changed.set()
        self.changed = asyncio.Event()

    def saw_heartbeat(self, beat: Heartbeat) -> None:
        """An agent's heartbeat arrived: readiness is read from the last one of each agent."""
        self.beats[beat.agent] = beat
        self.notify()

    def saw_execution_event(self, event: ExecutionStatusChanged) -> None:
        """An execution changed: remember its end and drain, and wake the waiters."""
        if event.event == "drained":
            self.drained.add(event.execution_id)
        if event.event in ("completed", "terminated", "failed", "drained"):
            self.finished.add(event.execution_id)
            self.ends.set()
            self.ends = asyncio.Event()
        self.notify()


@dataclass
class ManagerState:
    """The node's testbed settings (see :class:`~agents.testbed.testbed.TestbedManager`), its bus
    while the manager is open, and the running testbeds by namespace."""

    store: Store
    mode: Mode
    node_name: str
    workflows_dir: Path
    limits: Limits = field(default_factory=Limits)
    stomp: tuple[str, int] | None = None
    database_url: str | None = None
    database_schema: str | None = None
    heartbeat_interval_s: float = 60.0
    worker_limit: int | None = None
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    ready_timeout_s: float = 60.0
    drain_timeout_s: float = 30.0
    sandbox: Sandbox | None = None
    """How task workers run caller code (``workflows.tasks.sandbox``)."""
    bus: Bus | None = None
    testbeds: dict[str, RunningTestbed] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    admission: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held over a per-user count check and the entry it admits, so concurrent starts queue."""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("controlroom.testbed"))

    def lock(self, namespace: str) -> asyncio.Lock:
        """The lock that orders starts and stops of one namespace's testbed."""
        return self.locks.setdefault(namespace, asyncio.Lock())

    def connected_bus(self) -> Bus:
        """The manager's bus; only while the manager is open."""
        assert self.bus is not None, "use the manager as an async context manager"
        return self.bus

    def running(self, namespace: str) -> RunningTestbed:
        """The namespace's running testbed; :class:`TestbedNotRunning` when there is none."""
        check_namespace(namespace)
        testbed = self.testbeds.get(namespace)
        if testbed is None:
            raise TestbedNotRunning(namespace)
        return testbed

    def bounded(self, count: int) -> int:
        """A worker count within the node's limits and ``worker_limit``."""
        count = self.limits.clamp_workers(count)
        return min(count, self.worker_limit) if self.worker_limit is not None else count

    async def record(self, testbed: RunningTestbed) -> None:
        """Write the testbed's row: its status and each agent's type and pid."""
        agents = {
            name: {"type": e.spec.agent_type, "pid": e.runner.pid if e.runner is not None else None}
            for name, e in testbed.supervisor.agents.items()
        }
        await self.store.agents.upsert_testbed(testbed.namespace, testbed.config, testbed.status, mode=self.mode,
                                               node=self.node_name, started_by=testbed.started_by, agents=agents)


def check_namespace(namespace: str) -> None:
    """Raise :class:`InvalidRequest` (naming the rule) for a namespace no destination can carry."""
    try:
        Destinations.of(namespace)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
