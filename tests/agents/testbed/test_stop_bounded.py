"""A stop cannot hang: agents whose task ignores cancellation, a scaling racing the stop, and an
agent that is already gone do not keep the supervisor (or the testbed) from stopping."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import ClassVar

import pytest

from agents.testbed.framework.agent import Agent, AgentContext
from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.agent_types import register_agent_type
from agents.testbed.framework.runners import inprocess
from agents.testbed.framework.runners.base import AgentSpec
from agents.testbed.framework.runners.inprocess import InProcessRunner
from agents.testbed.framework.supervisor import Supervisor
from workflows.store.store import Store


@register_agent_type
class StubbornAgent(Agent):
    """An agent whose exit ignores cancellation until the test releases it (a task that does not
    end after cancel, as a worker stuck in its cleanup did in CI)."""

    agent_type = "stubborn"
    release: ClassVar[asyncio.Event | None] = None
    tasks: ClassVar[list[asyncio.Task[object]]] = []

    async def setup(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        StubbornAgent.tasks.append(task)

    async def teardown(self) -> None:
        assert StubbornAgent.release is not None
        while not StubbornAgent.release.is_set():
            try:
                await StubbornAgent.release.wait()
            except asyncio.CancelledError:
                continue  # swallowed, like a cleanup that catches too much


@register_agent_type
class QuietAgent(Agent):
    """An agent that behaves."""

    agent_type = "quiet"

    async def setup(self) -> None:
        return None


@pytest.fixture
def quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inprocess, "SETTLE_TIMEOUT_S", 0.3)


async def _until(check: object, what: str) -> None:
    for _ in range(500):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


async def test_stop_racing_scaling_with_stubborn_and_gone_agents_ends(store: Store, quick_settle: None) -> None:
    StubbornAgent.release = asyncio.Event()
    StubbornAgent.tasks.clear()
    try:
        await _stop_race(store)
    finally:
        StubbornAgent.release.set()  # let the stubborn tasks end (also when the test failed)
        await asyncio.wait(StubbornAgent.tasks, timeout=10) if StubbornAgent.tasks else None
    assert all(task.done() for task in StubbornAgent.tasks)


async def _stop_race(store: Store) -> None:
    async with EmbeddedBus() as bus:
        def context_for(spec: AgentSpec) -> AgentContext:
            return AgentContext(namespace=spec.namespace, bus=bus, store=store, agent_id=spec.agent_id,
                                heartbeat_interval_s=5.0)

        def make_runner(spec: AgentSpec) -> InProcessRunner:
            # the pool's workers are stubborn agents (the supervisor still sees them as workers)
            run_as = dataclasses.replace(spec, agent_type="stubborn") if spec.agent_type == "worker" else spec
            return InProcessRunner(run_as, context_for)

        supervisor = Supervisor("omega", store=store, make_runner=make_runner, retire_timeout_s=0.2)
        await supervisor.start([AgentSpec("quiet", "omega", "1"), AgentSpec("quiet", "omega", "2")])
        await supervisor.scale_workers(3, "initial pool")
        await _until(lambda: len(StubbornAgent.tasks) == 3, "three workers up")
        # an agent that is already gone when the stop comes
        await supervisor.kill("quiet-agent-omega-2", "gone before the stop")
        # a scale-down and a scale-up race the stop
        down = asyncio.create_task(supervisor.scale_workers(1, "race: down"))
        await asyncio.sleep(0)
        up = asyncio.create_task(supervisor.scale_workers(6, "race: up"))
        await asyncio.sleep(0)
        await supervisor.stop()
        assert down.done() and up.done()
        # the stop returned while the stubborn tasks are still running: it did not wait for them
        assert StubbornAgent.tasks and not any(task.done() for task in StubbornAgent.tasks)
        assert supervisor.agents == {}
        page = await store.agents.list_agents(namespace="omega", limit=50)
        rows = {a.name: a.status for a in page.items if not a.name.startswith("stubborn-")}  # the supervisor's rows
        assert rows == {name: "EXITED" for name in ("quiet-agent-omega-1", "quiet-agent-omega-2",
                                                    "worker-agent-omega-w1", "worker-agent-omega-w2",
                                                    "worker-agent-omega-w3")}


async def test_a_process_stopped_while_it_launches_is_not_left_running() -> None:
    import logging
    import sys

    from agents.testbed.framework.runners.process import ProcessRunner

    runner = ProcessRunner(AgentSpec("worker", "omega", "p1"), [sys.executable, "-c", "import time; time.sleep(3600)"],
                           logging.getLogger("test"))
    launching = asyncio.create_task(runner.start())
    await asyncio.sleep(0)  # the launch is under way, no process yet
    assert runner.child is None
    await runner.stop(1.0)  # the stop finds nothing to signal
    await launching
    try:
        # the launch completed after the stop: the child must not survive (the watch would wait on it forever)
        assert await asyncio.wait_for(runner.wait(), 30) is None
        assert not runner.is_alive()
    finally:
        if runner.is_alive():
            await runner.kill()


async def test_a_scale_down_cancelled_by_the_stop_leaves_no_worker_running(store: Store) -> None:
    """The stop unsubscribes the testbed_control handler, which cancels a scale-down in flight;
    the workers it had taken out of the pool must still be stopped (an orphan worker process
    outlived a testbed in a suite run this way)."""
    async with EmbeddedBus() as bus:
        def context_for(spec: AgentSpec) -> AgentContext:
            return AgentContext(namespace=spec.namespace, bus=bus, store=store, agent_id=spec.agent_id,
                                heartbeat_interval_s=5.0)

        def make_runner(spec: AgentSpec) -> InProcessRunner:
            run_as = dataclasses.replace(spec, agent_type="quiet") if spec.agent_type == "worker" else spec
            return InProcessRunner(run_as, context_for)

        supervisor = Supervisor("psi", store=store, make_runner=make_runner)
        await supervisor.start([])
        await supervisor.scale_workers(2, "initial pool")
        workers = list(supervisor.agents.values())
        await _until(lambda: all(e.runner is not None and e.runner.is_alive() for e in workers), "two workers up")
        down = asyncio.create_task(supervisor.scale_workers(0, "run drained"))
        await asyncio.sleep(0)  # the scale-down has taken both out of the pool; their retirement not begun
        down.cancel()
        await supervisor.stop()
        assert down.cancelled()
        assert not [e.spec.name for e in workers if e.runner is not None and e.runner.is_alive()]
        assert all(e.watch is not None and e.watch.done() for e in workers)
