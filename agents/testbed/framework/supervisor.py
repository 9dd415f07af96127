"""The supervisor: keeps one namespace's agents running, restarts crashes, sizes the worker pool.

Each agent has a watch task: it starts the agent through an :class:`AgentRunner`, waits for it
to end, and when the end was not asked for (a crash, a ``kill -9``, a cancelled task) it
restarts the agent after a backoff of 1, 2, 4 ... seconds (capped at ``backoff_max_s``; the
sequence starts again once an agent has stayed up for ``healthy_after_s``). Every restart is
logged (app_logs, through the supervisor's :class:`~agents.testbed.framework.logsink.LogBuffer`) and
counted in the agent's store row (``restarts``). The worker pool grows and shrinks with
:meth:`Supervisor.scale_workers`; removed workers stop cleanly (their unacknowledged slice, if
any, goes back to the queue).

A stop always ends (docs/testbed.md, "How a stop proceeds"): every step that waits is bounded.
An agent is asked to exit and given ``timeout_s``; then it is forced (cancelled, SIGKILL) and
given a settle time; an in-process task that still has not ended is abandoned (the runner
reports it gone). Its watch task is then given :data:`WATCH_GRACE_S` and cancelled if needed
(whatever it launched meanwhile is killed), and the store write of its EXITED row is bounded
by :data:`STORE_BOUND_S`. A scaling that races a stop either finishes first (the stop waits for
it, and it is bounded the same way) or sees ``stopping`` and does nothing; workers a scale-down
was retiring when it was cancelled are retired by the stop.

When an agent ends without being asked (crash, kill), ``on_agent_down(spec, reason)`` is called
at once, before any backoff: the manager uses it to close what a dead workflow runner left
running.

Example::

    supervisor = Supervisor("ns1", store=store, make_runner=lambda spec: InProcessRunner(spec, ctx))
    await supervisor.start([AgentSpec("data", "ns1", "1")])
    await supervisor.scale_workers(4)
    await supervisor.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agents.testbed.errors import AgentNotFound
from agents.testbed.framework.logsink import LogBuffer, LogFlusher
from agents.testbed.framework.runners.base import AgentRunner, AgentSpec
from workflows.store.records import AgentRecord

WORKER = "worker"
WATCH_GRACE_S = 2.0
"""How long a retired agent's watch task may take to notice; then it is cancelled."""
STORE_BOUND_S = 30.0
"""Longest wait for one supervisor store write (an agent's row); past it the write is given up, logged."""
AgentDown = Callable[[AgentSpec, str], Awaitable[None]]


@dataclass
class Supervised:
    """One agent under supervision."""

    spec: AgentSpec
    runner: AgentRunner | None = None
    watch: asyncio.Task[None] | None = None
    restarts: int = 0
    failures_in_row: int = 0
    wanted: bool = True
    last_crash: str | None = None
    started_at: float = 0.0
    started_wall: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    """Runs and watches the agents of one namespace."""

    def __init__(
        self,
        namespace: str,
        *,
        store: object,
        make_runner: Callable[[AgentSpec], AgentRunner],
        mode: str = "inprocess",
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        healthy_after_s: float = 60.0,
        worker_options: dict[str, object] | None = None,
        on_agent_down: AgentDown | None = None,
        retire_timeout_s: float = 10.0,
    ) -> None:
        self.namespace = namespace
        self.store = store
        self.make_runner = make_runner
        self.mode = mode
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.healthy_after_s = healthy_after_s
        self.worker_options = dict(worker_options or {})
        self.on_agent_down = on_agent_down
        self.retire_timeout_s = retire_timeout_s
        self.agents: dict[str, Supervised] = {}
        self.name = f"supervisor-{namespace}"
        self.log = logging.getLogger(f"controlroom.supervisor.{namespace}")
        self.log.setLevel(logging.INFO)
        self._buffer = LogBuffer(namespace=namespace, agent=self.name)
        self.log.addHandler(self._buffer)
        self._flusher = LogFlusher(self._buffer, store, interval_s=0.5)
        self._flusher_started = False
        self._worker_ids = 0
        self._scale_lock = asyncio.Lock()
        self._retiring: list[Supervised] = []
        self.stopping = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, specs: list[AgentSpec]) -> None:
        """Start the given agents (each under its own watch task)."""
        if not self._flusher_started:
            await self._flusher.__aenter__()
            self._flusher_started = True
        for spec in specs:
            await self.add(spec)

    async def add(self, spec: AgentSpec) -> Supervised:
        """Start and watch one more agent."""
        entry = Supervised(spec)
        self.agents[spec.name] = entry
        entry.watch = asyncio.create_task(self._watch(entry), name=f"watch-{spec.name}")
        return entry

    async def stop(self, timeout_s: float | None = None) -> None:
        """Stop every agent (workers first, the workflow runner last) and the log flusher; each
        agent gets ``timeout_s`` (default ``retire_timeout_s``) to exit cleanly."""
        timeout_s = self.retire_timeout_s if timeout_s is None else timeout_s
        self.stopping = True
        async with self._scale_lock:  # let a scaling in flight finish; later ones see `stopping`
            pass
        # three waves, each retired concurrently so a slow agent costs one timeout, not one each:
        # the workers, then the other agents, then the workflow runner
        waves: dict[int, list[Supervised]] = {0: list(self._retiring), 1: [], 2: []}
        for entry in self.agents.values():
            waves[0 if entry.spec.agent_type == WORKER else 2 if entry.spec.agent_type == "workflow_runner" else 1].append(entry)
        for wave in waves.values():
            await asyncio.gather(*(self._retire(e, timeout_s) for e in wave))
        self.agents.clear()
        self._retiring.clear()
        if self._flusher_started:
            self._flusher_started = False
            try:
                async with asyncio.timeout(STORE_BOUND_S):
                    await self._flusher.close()
            except Exception as exc:  # noqa: BLE001 - the last supervisor logs are lost, the stop ends
                logging.getLogger(__name__).warning("supervisor %s: last logs not written: %s", self.namespace, exc)
        self.log.removeHandler(self._buffer)

    async def _retire(self, entry: Supervised, timeout_s: float) -> None:
        entry.wanted = False
        entry.wake.set()
        if entry.runner is not None:
            await entry.runner.stop(timeout_s)  # bounded by the runner: timeout_s + its settle time
        await self._end_watch(entry)
        await self._mark(entry, "EXITED", "stopped by the supervisor")

    async def _end_watch(self, entry: Supervised) -> None:
        """Let the (unwanted) agent's watch task return; cancel it after :data:`WATCH_GRACE_S` and
        kill whatever incarnation it launched meanwhile, so nothing waits on it forever."""
        watch = entry.watch
        if watch is None or watch is asyncio.current_task():
            return
        await asyncio.wait({watch}, timeout=WATCH_GRACE_S)
        if not watch.done():
            self.log.warning("the watch of %s did not end %.1f s after its agent was stopped; cancelled",
                             entry.spec.name, WATCH_GRACE_S)
            watch.cancel()
            await asyncio.wait({watch}, timeout=WATCH_GRACE_S)
            if entry.runner is not None and entry.runner.is_alive():
                await entry.runner.kill()
        if watch.done() and not watch.cancelled():
            watch.exception()  # retrieved; a failed watch has been logged by _mark or the runner

    # --- control -----------------------------------------------------------------------------

    def get(self, name: str) -> Supervised:
        """The supervised agent ``name``."""
        entry = self.agents.get(name)
        if entry is None:
            raise AgentNotFound(name)
        return entry

    async def restart(self, name: str, reason: str | None = None) -> None:
        """Stop an agent cleanly and start a fresh incarnation at once (counted as a restart)."""
        entry = self.get(name)
        self.log.info("restarting %s on request%s", name, f": {reason}" if reason else "")
        entry.wanted = False
        entry.wake.set()
        if entry.runner is not None:
            await entry.runner.stop()
        await self._end_watch(entry)
        entry.wanted = True
        entry.wake = asyncio.Event()
        entry.restarts += 1
        await self._mark(entry, "EXITED", f"restarting on request{': ' + reason if reason else ''}")
        entry.watch = asyncio.create_task(self._watch(entry), name=f"watch-{name}")

    async def kill(self, name: str, reason: str | None = None) -> None:
        """End an agent at once and keep it down until ``restart`` (it stays in the testbed as EXITED,
        so the testbed reports not ready: a missing agent is a failure, not a smaller testbed;
        shrink the worker pool with ``scale_workers`` instead)."""
        entry = self.get(name)
        entry.wanted = False
        entry.wake.set()
        self.log.warning("killing %s%s", name, f": {reason}" if reason else "")
        if entry.runner is not None:
            await entry.runner.kill()
        await self._end_watch(entry)
        detail = f"killed{': ' + reason if reason else ''}"
        await self._mark(entry, "EXITED", detail)
        await self._agent_down(entry, detail)

    async def scale_workers(self, count: int, reason: str = "") -> int:
        """Grow or shrink the worker pool to ``count``; returns the new size."""
        async with self._scale_lock:
            if self.stopping:
                return self.worker_count()
            workers = sorted((e for e in self.agents.values() if e.spec.agent_type == WORKER and e.wanted),
                             key=lambda e: int(e.spec.agent_id.lstrip("w") or 0))
            if count > len(workers):
                self.log.info("scaling workers %d -> %d%s", len(workers), count, f" ({reason})" if reason else "")
                for _ in range(count - len(workers)):
                    self._worker_ids += 1
                    await self.add(AgentSpec(WORKER, self.namespace, f"w{self._worker_ids}", dict(self.worker_options)))
            elif count < len(workers):
                self.log.info("scaling workers %d -> %d%s", len(workers), count, f" ({reason})" if reason else "")
                extra = workers[count:]
                for entry in extra:  # out of the pool before anything can cancel this scaling
                    entry.wanted = False
                    self.agents.pop(entry.spec.name, None)
                    # kept until it has ended: a stop that cancels this scaling halfway (it runs
                    # in a bus handler the stop unsubscribes) still retires it
                    self._retiring.append(entry)
                await asyncio.gather(*(self._retire(e, self.retire_timeout_s) for e in extra))
                self._retiring = [e for e in self._retiring if e not in extra]
            return self.worker_count()

    def worker_count(self) -> int:
        """Workers currently in the pool."""
        return sum(1 for e in self.agents.values() if e.spec.agent_type == WORKER and e.wanted)

    # --- watching ----------------------------------------------------------------------------

    async def _watch(self, entry: Supervised) -> None:
        name = entry.spec.name
        while entry.wanted and not self.stopping:
            entry.runner = self.make_runner(entry.spec)
            entry.started_at = time.monotonic()
            entry.started_wall = time.time()
            try:
                await entry.runner.start()
                crash = await entry.runner.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed launch is a crash like any other
                crash = f"could not start: {type(exc).__name__}: {exc}"
            if crash is None or not entry.wanted or self.stopping:
                return  # asked for (a stop, a restart), or a kill: Supervisor.kill reports that one
            await self._agent_down(entry, crash)
            if time.monotonic() - entry.started_at >= self.healthy_after_s:
                entry.failures_in_row = 0
            entry.failures_in_row += 1
            entry.restarts += 1
            entry.last_crash = crash
            delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (entry.failures_in_row - 1))
            self.log.warning("agent %s %s; restart %d in %.1f s", name, crash, entry.restarts, delay,
                             extra={"restart": entry.restarts, "backoff_s": delay})
            await self._mark(entry, "EXITED", f"{crash}; restarting in {delay:.1f} s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await entry.wake.wait()

    async def _agent_down(self, entry: Supervised, reason: str) -> None:
        """Tell ``on_agent_down`` that an agent ended unasked (bounded; its failure is logged)."""
        if self.on_agent_down is None:
            return
        try:
            async with asyncio.timeout(STORE_BOUND_S):
                await self.on_agent_down(entry.spec, reason)
        except Exception as exc:  # noqa: BLE001 - the supervisor keeps supervising
            self.log.warning("could not act on the end of %s (%s): %s", entry.spec.name, reason,
                             f"{type(exc).__name__}: {exc}")

    async def _mark(self, entry: Supervised, status: str, detail: str) -> AgentRecord | None:
        """Write the supervisor's view of an agent into the store (restart count, exit reason);
        bounded by :data:`STORE_BOUND_S`."""
        try:
            async with asyncio.timeout(STORE_BOUND_S):
                return await self.store.agents.upsert_agent(  # type: ignore[attr-defined]
                    name=entry.spec.name, namespace=self.namespace, agent_type=entry.spec.agent_type, status=status,
                    mode=self.mode, detail=detail, restarts=entry.restarts,
                )
        except Exception as exc:  # noqa: BLE001 - the store may be away; the log keeps the fact
            self.log.warning("could not record %s as %s: %s", entry.spec.name, status,
                             f"{type(exc).__name__}: {exc}")
            return None
