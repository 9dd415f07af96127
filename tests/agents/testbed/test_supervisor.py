"""A crashed in-process agent restarts with backoff, and the restart is logged and counted."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from agents.testbed.framework.agent import Agent, AgentContext
from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.agent_types import register_agent_type
from agents.testbed.framework.runners.base import AgentSpec
from agents.testbed.framework.runners.inprocess import InProcessRunner
from agents.testbed.framework.supervisor import Supervisor
from agents.testbed.testbed import TestbedManager
from workflows.store.store import Store


@register_agent_type
class FlakyAgent(Agent):
    """Fails to start its first ``failures`` incarnations, then runs."""

    agent_type = "flaky"
    incarnations: ClassVar[list[float]] = []
    failures = 2

    async def setup(self) -> None:
        FlakyAgent.incarnations.append(asyncio.get_running_loop().time())
        if len(FlakyAgent.incarnations) <= self.failures:
            raise RuntimeError(f"flaky start number {len(FlakyAgent.incarnations)}")


async def test_crashing_agent_restarts_with_backoff_and_is_logged(store: Store) -> None:
    FlakyAgent.incarnations.clear()
    async with EmbeddedBus() as bus:
        def context_for(spec: AgentSpec) -> AgentContext:
            return AgentContext(namespace=spec.namespace, bus=bus, store=store, agent_id=spec.agent_id,
                                heartbeat_interval_s=5.0)

        initial = 0.1
        supervisor = Supervisor("zeta", store=store, make_runner=lambda s: InProcessRunner(s, context_for),
                                backoff_initial_s=initial, backoff_max_s=1.0)
        spec = AgentSpec("flaky", "zeta", "1")
        await supervisor.start([spec])
        for _ in range(200):
            runner = supervisor.agents[spec.name].runner
            if isinstance(runner, InProcessRunner) and runner.agent is not None and runner.agent.ready.is_set():
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the flaky agent never became ready")
        starts = FlakyAgent.incarnations
        assert len(starts) == 3
        assert starts[1] - starts[0] >= initial * 0.9  # 1st backoff
        assert starts[2] - starts[1] >= 2 * initial * 0.9  # doubled
        record = await store.agents.get_agent(spec.name)
        assert record.restarts == 2 and record.status == "READY"
        await supervisor.stop()
    logs = await store.logs.list_logs(namespace="zeta", agent="supervisor-zeta", search="restart")
    messages = [entry.message for entry in reversed(logs.items)]
    assert len(messages) == 2
    assert "flaky start number 1" in messages[0] and "restart 1 in 0.1 s" in messages[0]
    assert "flaky start number 2" in messages[1] and "restart 2 in 0.2 s" in messages[1]
    assert (await store.agents.get_agent(spec.name)).status == "EXITED"


async def test_killed_inprocess_agent_comes_back(manager: TestbedManager, store: Store) -> None:
    await manager.start_testbed("eta")
    name = "data-agent-eta-1"
    entry = manager.state.testbeds["eta"].supervisor.agents[name]
    first = entry.runner
    assert first is not None
    await first.kill()  # what a crash looks like to the supervisor
    for _ in range(200):
        status = await manager.testbed_status("eta")
        if status.ready and entry.runner is not first:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the killed agent was not restarted")
    record = await store.agents.get_agent(name)
    assert record.restarts == 1
    # a full run still works with the restarted agent
    execution = await manager.start_workflow("eta", parameters={"stf_count": 2, "target_worker_count": 2})
    execution = await manager.wait_for_execution(execution.execution_id, 60)
    assert execution.status == "completed"
    assert (await store.runs.list_stf(execution_id=execution.execution_id)).total == 2
