"""A killed or crashed workflow runner never leaves its execution ``running``: the supervisor
closes it ``failed`` with the reason at once, and a runner that starts closes what a dead one left."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from agents.testbed.bus.stomp import StompBus
from agents.testbed.testbed import TestbedManager
from workflows.store.database import default_url
from workflows.store.store import Store

REALTIME = {"stf_count": 500, "realtime_factor": 0.05, "target_worker_count": 1}


async def _running(manager: TestbedManager, namespace: str) -> str:
    record = await manager.start_workflow(namespace, parameters=REALTIME, realtime=True)
    for _ in range(600):
        record = await manager.store.executions.get(record.execution_id)
        if record.status == "running" and record.stf_count > 0:
            return record.execution_id
        progress = await manager.wait_for_execution(record.execution_id, 0.1)
        assert progress.status in ("pending", "running"), progress
    raise AssertionError("the execution never ran")


async def test_kill_agent_on_the_runner_closes_the_execution_failed(manager: TestbedManager, store: Store) -> None:
    await manager.start_testbed("rk1")
    execution_id = await _running(manager, "rk1")
    await manager.kill_agent("workflow_runner-agent-rk1-1", reason="test: runner crash")
    record = await store.executions.get(execution_id)
    assert record.status == "failed", record
    assert record.error and "killed" in record.error
    run = await store.runs.get_run(record.run_number)  # type: ignore[arg-type]
    assert run.status == "ended"
    # the runner stays down (kill_agent), and nothing is running in the namespace
    assert (await store.executions.list(namespace="rk1", currently_running=True, limit=10)).total == 0


async def test_a_starting_runner_closes_executions_left_running(manager: TestbedManager, store: Store) -> None:
    await manager.start_testbed("rk2")
    # what a runner that died without any cleanup leaves: an execution running with no runner
    orphan = await manager.start_workflow("rk2", parameters={"stf_count": 1})
    orphan = await manager.wait_for_execution(orphan.execution_id, 60)
    assert orphan.status == "completed"
    await store.executions.set_status(orphan.execution_id, "running")
    await manager.restart_agent("workflow_runner-agent-rk2-1", reason="test: a fresh runner")
    record = await store.executions.get(orphan.execution_id)
    assert record.status == "failed", record
    assert record.error and "restarted and closed it" in record.error


@pytest.mark.activemq
async def test_sigkill_of_the_runner_process_closes_the_execution(tmp_path: Path, stomp_address: tuple[str, int]) -> None:
    url = default_url(tmp_path)
    namespace = f"rk{uuid.uuid4().hex[:8]}"
    async with Store.from_url(url) as store:
        host, port = stomp_address
        async with TestbedManager(
            store=store, bus_factory=lambda: StompBus(host, port), mode="process", node_name="rk-node",
            stomp=stomp_address, database_url=url, heartbeat_interval_s=5.0, worker_limit=2,
            backoff_initial_s=0.1, backoff_max_s=1.0, ready_timeout_s=90.0,
            drain_timeout_s=2.0,  # the killed runner never sent end_run: its run cannot drain (30 s by default)
        ) as manager:
            status = await manager.start_testbed(namespace)
            assert status.ready, status
            execution_id = await _running(manager, namespace)
            runner = next(a for a in status.agents if a.agent_type == "workflow_runner")
            assert runner.pid is not None
            os.kill(runner.pid, signal.SIGKILL)  # a crash: no cleanup in the runner at all
            record = await manager.wait_for_execution(execution_id, 60)
            assert record.status == "failed", record
            assert record.error and "SIGKILL" in record.error
            run = await store.runs.get_run(record.run_number)  # type: ignore[arg-type]
            assert run.status == "ended"
            # the supervisor brought a new runner up, and it runs the next execution
            again = await manager.start_workflow(namespace, parameters={"stf_count": 2})
            again = await manager.wait_for_execution(again.execution_id, 90)
            assert again.status == "completed", again.error
