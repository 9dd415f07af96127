"""store.statistics: an execution's characterization computed in SQL, with numbers known in advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.store import NotFound, SliceIn, Store
from workflows.store.records import LogIn, MessageIn, SliceMark, StateEventIn

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def execution(store: Store, namespace: str = "alice") -> str:
    record = await store.executions.create("stf_datataking", namespace, namespace, {}, "h", None, {}, False)
    return record.execution_id


async def test_slice_latency_queue_wait_workers_and_phases(store: Store) -> None:
    execution_id = await execution(store)
    # slice i: requested at i s, started after a wait of (i+1)*10 ms, processed in (i+1)*100 ms
    slices = [SliceIn(namespace="alice", execution_id=execution_id, tf_filename="tf.1", slice_id=i, start=i, end=i,
                      tf_count=1, requested_at=at(i)) for i in range(10)]
    await store.runs.add_slices(slices)
    marks = []
    for i in range(10):
        started = at(i + (i + 1) * 0.010)
        worker = "w-a" if i < 6 else "w-b"
        status = "failed" if i == 9 else "done"
        marks.append(SliceMark(tf_filename="tf.1", slice_id=i, status="processing", worker=worker, at=started))
        marks.append(SliceMark(tf_filename="tf.1", slice_id=i, status=status, worker=worker,
                               at=started + timedelta(seconds=(i + 1) * 0.100)))
    await store.runs.mark_slices(marks)
    await store.runs.add_slices([SliceIn(namespace="alice", execution_id=execution_id, tf_filename="tf.1",
                                         slice_id=10, start=10, end=10, tf_count=1, requested_at=at(10))])
    await store.runs.mark_slices([SliceMark(tf_filename="tf.1", slice_id=10, status="processing", worker="w-b", at=at(11)),
                                  SliceMark(tf_filename="tf.1", slice_id=10, status="queued")])  # a retry, still queued
    await store.events.add_state_events([
        StateEventIn(namespace="alice", execution_id=execution_id, event_type="start_run", state="run",
                     substate="physics", timestamp=at(0)),
        StateEventIn(namespace="alice", execution_id=execution_id, event_type="pause_run", state="run",
                     substate="standby", timestamp=at(4)),
        StateEventIn(namespace="alice", execution_id=execution_id, event_type="resume_run", state="run",
                     substate="physics", timestamp=at(5)),
        StateEventIn(namespace="alice", execution_id=execution_id, event_type="end_run", state="end_run",
                     timestamp=at(12))])
    other = await execution(store, "bob")
    await store.runs.add_slices([SliceIn(namespace="bob", execution_id=other, tf_filename="tf.b", slice_id=0,
                                         start=0, end=0, tf_count=1, requested_at=at(0))])

    await store.logs.add_logs([
        LogIn(namespace="alice", agent="supervisor", level=30, message="worker-1 exited; restart 1 of 3"),
        LogIn(namespace="alice", agent="w", execution_id=execution_id, level=40, message="slice failed"),
        LogIn(namespace="alice", agent="w", execution_id=execution_id, level=20, message="info only"),
        LogIn(namespace="alice", agent="w", execution_id="other-0001", level=40, message="another execution"),
        LogIn(namespace="bob", agent="w", level=40, message="another namespace; restart 1 of 3")])
    stats = await store.statistics.of_execution(execution_id)

    assert (stats.warnings, stats.agent_restarts) == (2, 1)
    assert stats.slices_per_s == pytest.approx(9 / stats.duration_s, rel=1e-2)
    latencies = sorted((i + 1) * 110 for i in range(10))  # wait + processing, ms
    assert stats.slices == {"done": 9, "failed": 1, "queued": 1} and stats.retries == 1
    assert stats.latency.count == 10
    assert (stats.latency.p50_ms, stats.latency.p90_ms, stats.latency.p99_ms) == pytest.approx(
        (latencies[4], latencies[8], latencies[9]), abs=0.5)
    assert stats.latency.max_ms == pytest.approx(1100, abs=0.5)
    assert stats.latency.mean_ms == pytest.approx(sum(latencies) / 10, abs=0.5)
    bins = {(b.low_ms, b.high_ms): b.count for b in stats.latency_histogram}
    assert bins == {(100, 158): 1, (158, 251): 1, (251, 398): 1, (398, 631): 2, (631, 1000): 4, (1000, 1580): 1}
    assert stats.queue_wait.count == 11  # the retried slice was started once
    assert (stats.queue_wait.p50_ms, stats.queue_wait.p99_ms) == pytest.approx((60, 1000), abs=0.5)
    assert stats.processing.p50_ms == pytest.approx(500, abs=0.5)
    assert stats.workers_total == 2  # the retried slice's worker was cleared
    by_worker = {w.worker: w for w in stats.workers}
    assert (by_worker["w-a"].slices, by_worker["w-a"].done, by_worker["w-a"].failed) == (6, 6, 0)
    assert by_worker["w-a"].processing_s == pytest.approx(2.1, abs=1e-3)  # 0.1 + ... + 0.6
    assert by_worker["w-b"].processing_s == pytest.approx(3.4, abs=1e-3) and by_worker["w-b"].failed == 1
    assert by_worker["w-b"].mean_ms == pytest.approx(850, abs=0.5)
    assert [w.worker for w in stats.workers] == ["w-b", "w-a"]  # the busiest first
    assert by_worker["w-a"].busy_span_s == pytest.approx(5.66 - 0.01, abs=1e-3)
    assert stats.phases["run/physics"] == pytest.approx(11.0, abs=1e-3)  # 0-4 s and 5-12 s
    assert stats.phases["run/standby"] == pytest.approx(1.0, abs=1e-3)
    assert list(stats.phases) == ["run/physics", "run/standby", "end_run"] and stats.phases["end_run"] > 0
    assert len(stats.completions) == 30 and sum(stats.completions) == 10
    assert stats.completions[0] == 1 and stats.completions[-1] == 1
    assert stats.tasks is None

    bob = await store.statistics.of_execution(other)
    assert bob.slices == {"queued": 1} and bob.latency.count == 0 and bob.latency_histogram == [] and not bob.workers
    with pytest.raises(NotFound):
        await store.statistics.of_execution("nothing-0001")


async def test_task_workflow_wall_to_compute(store: Store) -> None:
    execution_id = await execution(store)
    body = {"msg_type": "task_workflow_summary", "status": "completed", "stage_runs": {"a": 4, "b": 1}, "failed": 0,
            "duration_s": 2.0, "compute_s": 5.0, "workers": {"tw-1": [2, 0, 1.0], "tw-2": [3, 1, 4.0]}}
    await store.events.add_messages([
        MessageIn(namespace="alice", execution_id=execution_id, msg_type="task_retried", body={}),
        MessageIn(namespace="alice", execution_id=execution_id, msg_type="task_workflow_summary", body=body)])
    stats = await store.statistics.of_execution(execution_id)
    assert stats.tasks is not None
    assert (stats.tasks.succeeded, stats.tasks.retried, stats.tasks.wall_s, stats.tasks.compute_s) == (5, 1, 2.0, 5.0)
    assert stats.tasks.wall_to_compute == 0.4
    assert [(w.worker, w.tasks, w.failed, w.compute_s, w.mean_ms) for w in stats.tasks.workers] == [
        ("tw-2", 3, 1, 4.0, pytest.approx(1333.333)), ("tw-1", 2, 0, 1.0, 500.0)]
    assert stats.tasks.workers_total == 2
    assert stats.slices == {} and stats.phases == {}
