"""Stopping a run mid-way, slice failures with retries, and requests that are rejected."""

from __future__ import annotations

import asyncio

import pytest

from agents.testbed.errors import InvalidRequest, TestbedNotRunning
from agents.testbed.framework.status import ExecutionProgress
from agents.testbed.testbed import TestbedManager
from workflows.store.store import Store


async def test_stop_mid_run_broadcasts_end_run_and_closes_everything(manager: TestbedManager, store: Store) -> None:
    await manager.start_testbed("gamma")
    record = await manager.start_workflow(
        "gamma", parameters={"stf_count": 200, "realtime_factor": 0.01, "target_worker_count": 4}, realtime=True
    )
    two_stfs = asyncio.Event()

    async def on_progress(progress: ExecutionProgress) -> None:
        if progress.stf_count >= 2:
            two_stfs.set()

    waiter = asyncio.create_task(manager.wait_for_execution(record.execution_id, 60, on_progress))
    await asyncio.wait_for(two_stfs.wait(), 30)
    stopped = await manager.stop_workflow(record.execution_id, reason="operator wants the beam back")
    assert stopped.status == "terminated"
    assert "operator wants the beam back" in (stopped.error or "")
    final = await waiter
    assert final.status == "terminated"
    assert 2 <= final.stf_count < 200

    end_runs = await store.events.list_messages(execution_id=record.execution_id, msg_type="end_run")
    assert end_runs.total == 1
    assert end_runs.items[0].body["reason"] == "stopped"
    assert end_runs.items[0].body["total_stf_files"] == final.stf_count
    run = await store.runs.get_run(final.run_number)  # type: ignore[arg-type]
    assert run.status == "ended" and run.total_stf_files == final.stf_count
    assert (await store.executions.list(currently_running=True)).total == 0
    assert all(r.status == "ended" for r in (await store.runs.list_runs(limit=200)).items)
    # a second stop changes nothing
    again = await manager.stop_workflow(record.execution_id)
    assert again.status == "terminated" and again.end_time == stopped.end_time


async def test_failing_slices_are_retried_then_failed_with_the_reason(manager: TestbedManager, store: Store) -> None:
    await manager.start_testbed("delta")
    retries = 2
    record = await manager.start_workflow("delta", parameters={
        "stf_count": 1, "slices_per_sample": 3, "slice_max_retries": retries, "slice_failure_rate": 1.0,
        "target_worker_count": 2,
    })
    record = await manager.wait_for_execution(record.execution_id, 60)
    assert record.status == "completed"
    slices = await store.runs.list_slices(execution_id=record.execution_id)
    assert slices.total == 3
    for s in slices.items:
        assert s.status == "failed"
        assert s.retries == retries
        assert "injected payload failure" in (s.error or "")
    monitor = await manager.monitor(record.execution_id)
    assert monitor.slices == {"queued": 0, "processing": 0, "done": 0, "failed": 3}
    # logs reach the store in batches (every 0.5 s): allow a few flushes
    for _ in range(50):
        errors = (await manager.monitor(record.execution_id)).errors
        if any("failed after 2 retries" in e.message for e in errors):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"no error log about the failed slices: {[e.message for e in errors]}")


async def test_rejected_start_workflow_changes_nothing(manager: TestbedManager, store: Store) -> None:
    with pytest.raises(TestbedNotRunning, match="start_testbed"):
        await manager.start_workflow("eps", parameters={"stf_count": 1})
    await manager.start_testbed("eps")
    with pytest.raises(InvalidRequest, match="stf_count"):
        await manager.start_workflow("eps", parameters={"stf_count": -3})
    with pytest.raises(InvalidRequest, match="no_such_knob"):
        await manager.start_workflow("eps", parameters={"no_such_knob": 1})
    with pytest.raises(InvalidRequest, match="slice_failure_rate"):
        await manager.start_workflow("eps", parameters={"slice_failure_rate": 2})
    with pytest.raises(InvalidRequest, match="no_such_config"):
        await manager.start_workflow("eps", config="no_such_config")
    with pytest.raises(InvalidRequest, match="known workflows"):
        await manager.start_workflow("eps", workflow="no_such_workflow")
    with pytest.raises(InvalidRequest, match="namespace"):
        await manager.start_testbed("Bad Namespace")
    assert (await store.executions.list()).total == 0
