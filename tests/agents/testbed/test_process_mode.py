"""Agents as child processes on ActiveMQ: a full run, and a worker killed with SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.testbed.bus.stomp import StompBus
from agents.testbed.framework.status import ExecutionProgress
from agents.testbed.testbed import TestbedManager
from workflows.store.database import default_url
from workflows.store.store import Store

pytestmark = pytest.mark.activemq


@pytest.fixture
async def process_manager(tmp_path: Path, stomp_address: tuple[str, int]) -> AsyncIterator[tuple[TestbedManager, Store]]:
    url = default_url(tmp_path)
    async with Store.from_url(url) as store:
        host, port = stomp_address
        async with TestbedManager(
            store=store, bus_factory=lambda: StompBus(host, port), mode="process", node_name="proc-node",
            stomp=stomp_address, database_url=url, heartbeat_interval_s=5.0, worker_limit=3,
            backoff_initial_s=0.1, backoff_max_s=1.0, ready_timeout_s=90.0,
        ) as manager:
            yield manager, store
        pids = [a.pid for a in (await store.agents.list_agents(limit=200)).items if a.pid]
    for pid in pids:  # no orphan: every child is gone once the manager has exited
        assert not _alive(pid), f"agent process {pid} outlived the testbed"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def _namespace() -> str:
    return f"pm{uuid.uuid4().hex[:10]}"


async def _assert_every_slice_once(store: Store, execution_id: str, expected: int, killed: int = 0) -> None:
    """Every slice done with one accepted result; a duplicate result can only come from a worker
    killed between sending its result and acking its slice (prefetch 1: one slice per kill)."""
    slices = await store.runs.list_slices(execution_id=execution_id, limit=200)
    assert slices.total == expected
    assert {s.status for s in slices.items} == {"done"}
    assert all(s.retries == 0 and s.result is not None for s in slices.items)
    received = await store.counters.current(f"slice_results_received:{execution_id}")  # every result received
    assert received is not None and expected <= received <= expected + killed, received


async def test_full_run_with_child_processes(process_manager: tuple[TestbedManager, Store]) -> None:
    manager, store = process_manager
    namespace = _namespace()
    status = await manager.start_testbed(namespace)
    assert status.ready, status
    assert len({a.pid for a in status.agents}) == len(status.agents)  # one process each
    assert os.getpid() not in {a.pid for a in status.agents}
    record = await manager.start_workflow(namespace, parameters={
        "stf_count": 3, "slices_per_sample": 4, "target_worker_count": 2,
    })
    record = await manager.wait_for_execution(record.execution_id, 90)
    assert record.status == "completed", record.error
    await _assert_every_slice_once(store, record.execution_id, 3 * 4)
    run = await store.runs.get_run(record.run_number)  # type: ignore[arg-type]
    assert run.status == "ended" and run.total_stf_files == 3
    stopped = await manager.stop_testbed(namespace)
    assert stopped.status == "stopped"
    agents = await store.agents.list_agents(namespace=namespace, limit=200)
    assert {a.status for a in agents.items} == {"EXITED"}
    assert {a.mode for a in agents.items} == {"process"}


async def test_kill_9_of_a_worker_loses_and_duplicates_nothing(process_manager: tuple[TestbedManager, Store]) -> None:
    manager, store = process_manager
    namespace = _namespace()
    await manager.start_testbed(namespace)
    total = 3 * 4
    record = await manager.start_workflow(namespace, realtime=True, parameters={
        "stf_count": 3, "slices_per_sample": 4, "target_worker_count": 2, "slice_processing_time": 10.0,
        "realtime_factor": 0.05,
    })
    killed: list[int] = []

    async def kill_a_busy_worker(progress: ExecutionProgress) -> None:
        if killed or progress.slices.get("queued", 0) == 0:
            return
        status = await manager.testbed_status(namespace)
        busy = [a for a in status.agents if a.agent_type == "worker" and a.status == "PROCESSING" and a.pid]
        if busy:
            os.kill(busy[0].pid, signal.SIGKILL)  # type: ignore[arg-type]
            killed.append(busy[0].pid)  # type: ignore[arg-type]

    record = await manager.wait_for_execution(record.execution_id, 90, kill_a_busy_worker)
    assert killed, "no worker was ever seen processing"
    assert record.status == "completed", record.error
    await _assert_every_slice_once(store, record.execution_id, total, killed=len(killed))
    # the killed worker was restarted by the supervisor, and the restart is on record
    status = await manager.testbed_status(namespace)
    assert killed[0] not in {a.pid for a in status.agents}
    assert sum(a.restarts for a in status.agents if a.agent_type == "worker") >= 1
    logs = await store.logs.list_logs(namespace=namespace, search="killed by signal SIGKILL")
    assert logs.total >= 1
