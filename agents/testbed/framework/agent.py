"""The persistent agent: name, lifecycle, heartbeats, logs; subclasses add handlers.

Lifecycle: ``STARTING`` (connecting, subscribing) -> ``READY`` (idle, waiting for work) ->
``PROCESSING`` (at least one handler busy) -> ``READY`` ... -> ``EXITED``. A heartbeat goes
to the namespace's heartbeat topic and into the store (``store.agents.upsert_agent``) every
``heartbeat_interval_s`` AND at once on every status change, so readiness is visible
immediately. Busy/idle flips faster than 0.25 s coalesce into the next heartbeat, and a mere
READY <-> PROCESSING flip reaches the store at most once a second (STARTING, the first READY
and EXITED are always written at once): a pool of workers in fast mode would otherwise write
a row per slice. The first READY is written before :attr:`Agent.ready` is set, so whoever waits
on ``ready`` then reads the store sees READY.

Handlers are coroutines on the agent's event loop; a subclass wraps each in :meth:`busy` so
the status follows the work. Long work must await (``asyncio.sleep``, ``to_thread``), never block.

Example::

    class EchoAgent(Agent):
        agent_type = "echo"

        async def setup(self) -> None:
            await self.subscribe(self.to.data, self.on_data)

        async def on_data(self, delivery: Delivery) -> None:
            async with self.busy():
                self.log.info("got %s", delivery.body["msg_type"])

    agent = EchoAgent(AgentContext(namespace="ns1", bus=bus, store=store, agent_id="1"))
    task = asyncio.create_task(agent.run())
    await agent.ready.wait()
    ...
    agent.stop(); await task
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from agents.testbed.bus.base import AckMode, Bus, Delivery, Subscription
from agents.testbed.framework.destinations import Destinations
from agents.testbed.framework.logsink import LogBuffer, LogFlusher
from agents.testbed.framework.pipeline import Pipeline
from agents.testbed.pipeline_messages import AgentStatus, Heartbeat

AgentMode = Literal["inprocess", "process"]
BUS_BEAT_GAP_S = 0.25
"""Least time between two heartbeats on the bus: faster busy/idle flips coalesce."""
STORE_BEAT_GAP_S = 1.0
"""Least time between two store writes caused only by a READY <-> PROCESSING flip."""


def agent_name(agent_type: str, namespace: str, agent_id: str) -> str:
    """The name of an agent: ``{type}-agent-{namespace}-{id}``."""
    return f"{agent_type}-agent-{namespace}-{agent_id}"


@dataclass
class AgentContext:
    """What an agent is given: where it lives and what it talks to."""

    namespace: str
    bus: Bus
    store: Any
    agent_id: str
    mode: AgentMode = "inprocess"
    heartbeat_interval_s: float = 60.0
    log_flush_interval_s: float = 0.5
    options: dict[str, Any] | None = None
    """Agent-type specific settings (e.g. ``slice_failure_rate`` for workers)."""


class Agent(ABC):
    """Base of every testbed agent (see the module docstring for an example)."""

    agent_type: ClassVar[str]

    def __init__(self, context: AgentContext) -> None:
        self.context = context
        self.namespace = context.namespace
        self.bus = context.bus
        self.store = context.store
        self.to = Destinations.of(context.namespace)
        self.name = agent_name(self.agent_type, context.namespace, context.agent_id)
        self.options: dict[str, Any] = dict(context.options or {})
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.status: AgentStatus = "STARTING"
        self.execution_id: str | None = None
        self.detail: str | None = None
        self.killed = False
        """Set by a runner's ``kill`` before it cancels the agent: its cleanup reports a crash, not a stop."""
        self.ready = asyncio.Event()
        self.exited = asyncio.Event()
        self.started_at = datetime.now(UTC)
        self.log = logging.getLogger(f"controlroom.agent.{self.name}")
        self.log.setLevel(logging.INFO)
        self._buffer = LogBuffer(namespace=self.namespace, agent=self.name)
        self._exit = asyncio.Event()
        self._changed = asyncio.Event()
        self._busy = 0
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.heartbeats_sent = 0
        self._stored_status: AgentStatus | None = None
        self._stored_at = float("-inf")
        self._beating = asyncio.Lock()
        """One heartbeat at a time: a later status never lands in the store before an earlier one."""
        self._pipeline: Pipeline | None = None

    # --- for subclasses ----------------------------------------------------------------------

    @abstractmethod
    async def setup(self) -> None:
        """Subscribe to what the agent listens to (called once, before READY)."""

    async def teardown(self) -> None:
        """Release what :meth:`setup` took beyond subscriptions (called once, on exit)."""

    async def subscribe(
        self,
        destination: str,
        handler: Callable[[Delivery], Awaitable[None]],
        *,
        ack: AckMode = "auto",
        prefetch: int = 1,
        msg_types: Collection[str] | None = None,
    ) -> Subscription:
        """Subscribe on the agent's bus; the subscription is cancelled when the agent exits.
        ``msg_types``: on a topic, only these message types (:meth:`Bus.subscribe`)."""
        subscription = await self.bus.subscribe(destination, handler, ack=ack, prefetch=prefetch, msg_types=msg_types)
        self._subscriptions.append(subscription)
        return subscription

    async def publish(
        self, destination: str, message: BaseModel, *, persistent: bool = True, ttl_s: float | None = None
    ) -> None:
        """Publish a pydantic message as JSON on the agent's bus."""
        await self.publish_body(destination, message.model_dump(mode="json"), persistent=persistent, ttl_s=ttl_s)

    async def publish_body(
        self, destination: str, body: dict[str, Any], *, persistent: bool = True, ttl_s: float | None = None
    ) -> None:
        """Publish a message body already in its JSON form (``model_dump(mode="json")`` of a message,
        or a hot path's hand-built equivalent, see :mod:`agents.testbed.pipeline_messages`)."""
        await self.bus.publish(
            destination,
            body,
            persistent=persistent,
            ttl_s=ttl_s,
            headers={"msg_type": str(body.get("msg_type", "")), "sender": self.name},
        )

    @contextlib.asynccontextmanager
    async def busy(self) -> AsyncIterator[None]:
        """Mark the agent PROCESSING while the block runs (nested and concurrent uses count)."""
        self._hold()
        try:
            yield
        finally:
            self._release()

    @property
    def pipeline(self) -> Pipeline:
        """The agent's ordered write-then-publish pipeline (:mod:`agents.testbed.framework.pipeline`):
        an entry in flight counts as busy; the agent drains it when it stops."""
        if self._pipeline is None:
            self._pipeline = Pipeline(self.log, hold=self._hold, release=self._release)
        return self._pipeline

    def _hold(self) -> None:
        self._busy += 1
        if self._busy == 1:
            self._set_status("PROCESSING")

    def _release(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self.status == "PROCESSING":
            self._set_status("READY")

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run a coroutine as a task owned by the agent (cancelled when the agent exits)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    # --- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the agent to exit; :meth:`run` returns once it has."""
        self._exit.set()

    async def run(self) -> None:
        """Start, serve until :meth:`stop`, then exit; heart-beats and flushes logs meanwhile."""
        self.log.addHandler(self._buffer)
        flusher = LogFlusher(self._buffer, self.store, interval_s=self.context.log_flush_interval_s)
        heartbeat: asyncio.Task[None] | None = None
        try:
            async with flusher:
                await self._heartbeat()
                heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"heartbeat-{self.name}")
                await self.setup()
                self._set_status("READY")
                await self._heartbeat()  # the READY row is in the store before readiness is announced
                self.ready.set()
                self.log.info("agent %s ready (%s mode, pid %d)", self.name, self.context.mode, self.pid)
                await self._exit.wait()
                self.log.info("agent %s exiting", self.name)
                await self._shutdown(heartbeat)
                heartbeat = None
        finally:
            if heartbeat is not None:
                await self._shutdown(heartbeat)
            self.log.removeHandler(self._buffer)
            self.exited.set()

    async def _shutdown(self, heartbeat: asyncio.Task[None]) -> None:
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.cancel()
        self._subscriptions.clear()
        if self._pipeline is not None:  # what was taken in is written and passed on before the exit
            with contextlib.suppress(Exception):
                await self._pipeline.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self.teardown()
        heartbeat.cancel()
        with contextlib.suppress(BaseException):
            await heartbeat
        self.status = "EXITED"
        with contextlib.suppress(Exception):
            await self._heartbeat()

    # --- heartbeats --------------------------------------------------------------------------

    def _set_status(self, status: AgentStatus) -> None:
        if status != self.status:
            self.status = status
            self._changed.set()

    async def _heartbeat_loop(self) -> None:
        interval = self.context.heartbeat_interval_s
        gap = min(BUS_BEAT_GAP_S, interval)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._changed.wait()
            self._changed.clear()
            try:
                await self._heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a missed heartbeat is retried next interval
                self.log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(gap)  # status flips within the gap coalesce into the next heartbeat

    async def _heartbeat(self) -> None:
        """Publish a heartbeat; write it to the store unless only a busy/idle flip happened recently."""
        async with self._beating:
            await self._beat()

    async def _beat(self) -> None:
        status = self.status
        now = time.monotonic()
        flip_only = {status, self._stored_status} <= {"READY", "PROCESSING"}
        due = now - self._stored_at >= min(STORE_BEAT_GAP_S, self.context.heartbeat_interval_s)
        if status != self._stored_status and (not flip_only or due) or now - self._stored_at >= self.context.heartbeat_interval_s * 0.9:
            await self.store.agents.upsert_agent(
                name=self.name,
                namespace=self.namespace,
                agent_type=self.agent_type,
                status=status,
                pid=self.pid,
                hostname=self.hostname,
                mode=self.context.mode,
                execution_id=self.execution_id,
                detail=self.detail,
            )
            self._stored_status, self._stored_at = status, now
        elif status != self._stored_status:
            self._changed.set()  # write the new status once the store gap has passed
        if status != "EXITED" or not self.bus_closed():
            message = Heartbeat(
                namespace=self.namespace,
                agent=self.name,
                agent_type=self.agent_type,
                status=status,
                pid=self.pid,
                hostname=self.hostname,
                execution_id=self.execution_id,
                detail=self.detail,
            )
            with contextlib.suppress(Exception):
                await self.publish(self.to.heartbeat, message, persistent=False, ttl_s=600)
        self.heartbeats_sent += 1

    def bus_closed(self) -> bool:
        """Whether the bus is closed (heartbeats then go to the store only)."""
        return bool(getattr(self.bus, "closed", False))

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)
