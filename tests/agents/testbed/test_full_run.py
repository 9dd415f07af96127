"""A complete fast run in-process: every STF, TF sample and slice accounted for, nothing left running."""

from __future__ import annotations

import math

from agents.testbed.payload import work_checksum
from agents.testbed.framework.status import ExecutionProgress
from agents.testbed.testbed import TestbedManager
from workflows.config import expand_config
from workflows.store.store import Store

STF_COUNT = 6


async def test_full_fast_run_accounts_for_everything(manager: TestbedManager, store: Store) -> None:
    status = await manager.start_testbed("alpha")
    assert status.ready, status
    record = await manager.start_workflow("alpha", parameters={"stf_count": STF_COUNT})
    seen: list[ExecutionProgress] = []

    async def on_progress(progress: ExecutionProgress) -> None:
        seen.append(progress)

    record = await manager.wait_for_execution(record.execution_id, timeout_s=60, on_progress=on_progress)

    params = expand_config("fast_processing_default", parameters={"stf_count": STF_COUNT}).parameters
    tf_count = max(1, round(params.tfs_per_stf * params.stf_sampling_rate))  # type: ignore[attr-defined]
    per_sample = params.slices_per_sample  # type: ignore[attr-defined]

    assert record.status == "completed", record.error
    assert record.stf_count == STF_COUNT
    assert seen and seen[-1].drained
    stfs = await store.runs.list_stf(execution_id=record.execution_id, limit=200)
    assert stfs.total == STF_COUNT
    assert {s.status for s in stfs.items} == {"processed"}
    assert sorted(s.sequence for s in stfs.items) == list(range(1, STF_COUNT + 1))
    samples = await store.runs.list_tf_samples(execution_id=record.execution_id, limit=200)
    assert samples.total == STF_COUNT
    assert sorted(s.stf_filename for s in samples.items) == sorted(s.filename for s in stfs.items)
    assert all(s.tf_count == tf_count for s in samples.items)
    slices = await store.runs.list_slices(execution_id=record.execution_id, limit=200)
    assert slices.total == STF_COUNT * per_sample
    # nothing counted twice: the store counts every result received (written in the same
    # transaction as the slice rows), so a slice processed twice shows here
    assert (await manager.monitor(record.execution_id)).slice_results_received == STF_COUNT * per_sample
    for s in slices.items:
        assert s.status == "done" and s.retries == 0
        assert s.result is not None and s.result["checksum"] == work_checksum(f"{s.tf_filename}:{s.slice_id}")
        assert s.assigned_worker and s.assigned_worker.startswith("worker-agent-alpha-")
    for sample in samples.items:
        covered = sorted((s for s in slices.items if s.tf_filename == sample.tf_filename), key=lambda s: s.slice_id)
        assert [s.slice_id for s in covered] == list(range(per_sample))
        assert sum(s.tf_count for s in covered) == sample.tf_count
        assert covered[0].start == sample.tf_first and covered[-1].end == sample.tf_last

    run = await store.runs.get_run(record.run_number)  # type: ignore[arg-type]
    assert run.status == "ended" and run.total_stf_files == STF_COUNT
    monitor = await manager.monitor(record.execution_id)
    assert monitor.slices["done"] == STF_COUNT * per_sample
    assert monitor.slice_latency_p50_ms is not None and monitor.slice_latency_p99_ms is not None
    assert monitor.slice_latency_p50_ms <= monitor.slice_latency_p99_ms
    periods = math.ceil(STF_COUNT / params.stfs_per_period())
    expected_events = ["run_imminent", "start_run", *["pause_run", "resume_run"] * (periods - 1), "end_run"]
    assert [e.event_type for e in reversed(monitor.recent_events)] == expected_events
    messages = await store.events.list_messages(execution_id=record.execution_id, msg_type="stf_gen", limit=200)
    assert messages.total == STF_COUNT

    await manager.stop_testbed("alpha")
    assert (await store.executions.list(currently_running=True)).total == 0
    assert all(r.status == "ended" for r in (await store.runs.list_runs(limit=200)).items)
    agents = await store.agents.list_agents(namespace="alpha", limit=200)
    assert agents.total >= 6 and {a.status for a in agents.items} == {"EXITED"}
    testbed = await store.agents.get_testbed("alpha")
    assert testbed.status == "stopped"


async def test_start_testbed_twice_returns_the_running_one(manager: TestbedManager) -> None:
    first = await manager.start_testbed("beta")
    again = await manager.start_testbed("beta")
    assert not first.already_running and again.already_running
    assert [a.name for a in again.agents] == [a.name for a in first.agents]
    assert manager.namespaces() == ["beta"]
