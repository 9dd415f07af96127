"""Operator controls: scale the pool by message, restart and kill agents, bad names and messages."""

from __future__ import annotations

import asyncio

import pytest

from agents.testbed.errors import AgentNotFound, InvalidRequest, TestbedNotRunning
from agents.testbed.testbed import TestbedManager
from workflows.store.store import Store


async def _workers(manager: TestbedManager, namespace: str, count: int) -> list[str]:
    for _ in range(250):
        status = await manager.testbed_status(namespace)
        workers = [a.name for a in status.agents if a.agent_type == "worker" and a.status == "READY"]
        if status.workers == count and len(workers) == count:
            return workers
        await asyncio.sleep(0.02)
    raise AssertionError(f"the pool never reached {count} READY workers: {status}")


async def test_scale_restart_kill(manager: TestbedManager, store: Store) -> None:
    await manager.start_testbed("theta")
    await manager.send_message("theta", "scale_workers", {"count": 3}, reason="more hands")
    workers = await _workers(manager, "theta", 3)
    await manager.send_message("theta", "scale_workers", {"count": 2})
    remaining = await _workers(manager, "theta", 2)
    gone = set(workers) - set(remaining)
    assert len(gone) == 1
    name = gone.pop()
    for _ in range(250):  # the pool says 2 as soon as the worker leaves it; its retirement then completes
        if (await store.agents.get_agent(name)).status == "EXITED":
            break
        await asyncio.sleep(0.02)
    assert (await store.agents.get_agent(name)).status == "EXITED"

    before = await store.agents.get_agent("data-agent-theta-1")
    record = await manager.restart_agent("data-agent-theta-1", reason="config reload")
    assert record.restarts == before.restarts + 1 and record.status == "READY"

    victim = remaining[0]
    killed = await manager.kill_agent(victim, reason="misbehaving")
    assert killed.status == "EXITED" and "misbehaving" in (killed.detail or "")
    status = await manager.testbed_status("theta")
    assert {a.name: a.status for a in status.agents}[victim] == "EXITED"
    assert not status.ready  # a killed agent is a failure the testbed shows
    revived = await manager.restart_agent(victim, reason="back to work")
    assert revived.status in ("READY", "PROCESSING")
    assert (await manager.testbed_status("theta")).ready

    with pytest.raises(AgentNotFound, match="list_agents"):
        await manager.kill_agent("nobody-agent-theta-1")
    with pytest.raises(InvalidRequest, match="count"):
        await manager.send_message("theta", "scale_workers", {"count": -1})
    with pytest.raises(InvalidRequest, match="msg_type"):
        await manager.send_message("theta", "bad type!", {})
    with pytest.raises(TestbedNotRunning):
        await manager.send_message("iota", "scale_workers", {"count": 1})
