"""Runs, STF files, TF samples, slices, workers and run states."""

from __future__ import annotations

import pytest

from workflows.store import InvalidQuery, NotFound, SliceIn, Store


async def test_run_lifecycle(store: Store) -> None:
    number = await store.runs.allocate_run_number()
    assert number == 100010 and await store.runs.allocate_run_number() == 100011
    started = await store.runs.start_run(number, "alice", "wf-alice-0001")
    assert (started.status, started.state, started.substate) == ("running", "run", "physics")
    assert (await store.runs.start_run(number, "alice", "wf-alice-0001")) == started  # redelivered
    paused = await store.runs.update_run_state(number, "run", "standby")
    assert paused.substate == "standby"
    ended = await store.runs.end_run(number, total_stf_files=4)
    assert ended.status == "ended" and ended.total_stf_files == 4 and ended.end_time is not None
    assert (await store.runs.end_run(number)).end_time == ended.end_time
    await store.runs.start_run(100011, "bob", "wf-bob-0001")
    assert [r.run_number for r in (await store.runs.list_runs()).items] == [100011, 100010]
    assert [r.run_number for r in (await store.runs.list_runs(namespace="alice")).items] == [100010]
    assert [r.run_number for r in (await store.runs.list_runs(status="running")).items] == [100011]
    with pytest.raises(NotFound, match="run"):
        await store.runs.get_run(1)
    with pytest.raises(NotFound):
        await store.runs.end_run(1, 0)


async def test_stf_files(store: Store) -> None:
    names = [f"swf.100010.{seq:06d}.stf" for seq in range(1, 4)]
    for seq, name in enumerate(names, start=1):
        await store.runs.add_stf(name, "alice", "wf-alice-0001", 100010, seq)
    again = await store.runs.add_stf(names[0], "alice", "wf-alice-0001", 100010, 1, size_bytes=9)
    assert again.size_bytes is None  # the first registration wins
    ready = await store.runs.set_stf_status(names[0], "ready", size_bytes=1024, checksum="ad:1")
    assert (ready.status, ready.size_bytes, ready.checksum) == ("ready", 1024, "ad:1")
    assert ready.updated_at >= ready.created_at
    assert (await store.runs.get_stf(names[0])) == ready
    page = await store.runs.list_stf(run_number=100010)
    assert [f.filename for f in page.items] == list(reversed(names))
    assert [f.filename for f in (await store.runs.list_stf(status="ready")).items] == [names[0]]
    with pytest.raises(InvalidQuery, match="status"):
        await store.runs.set_stf_status(names[0], "lost")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="STF file"):
        await store.runs.get_stf("nope.stf")


async def test_tf_samples(store: Store) -> None:
    sample = await store.runs.add_tf_sample("a.tf", "a.stf", "alice", "wf", 100010, 0, 99, 100)
    assert (await store.runs.add_tf_sample("a.tf", "a.stf", "alice", "wf", 100010, 0, 99, 100)) == sample
    await store.runs.add_tf_sample("b.tf", "b.stf", "alice", "wf", 100010, 100, 199, 100)
    assert [s.tf_filename for s in (await store.runs.list_tf_samples(execution_id="wf")).items] == ["b.tf", "a.tf"]
    assert [s.tf_filename for s in (await store.runs.list_tf_samples(stf_filename="a.stf")).items] == ["a.tf"]
    with pytest.raises(InvalidQuery, match="tf_last"):
        await store.runs.add_tf_sample("c.tf", "c.stf", "alice", "wf", 100010, 10, 5, 0)


async def test_slices(store: Store) -> None:
    batch = [SliceIn(namespace="alice", execution_id="wf", run_number=100010, tf_filename="a.tf",
                     slice_id=i, start=i * 10, end=i * 10 + 9, tf_count=10) for i in range(5)]
    assert await store.runs.add_slices(batch) == 5
    assert await store.runs.add_slices(batch[3:] + [batch[0].model_copy(update={"slice_id": 5})]) == 1
    taken = await store.runs.mark_slice("a.tf", 0, "processing", worker="w1")
    assert taken.assigned_worker == "w1" and taken.processing_start_at is not None
    done = await store.runs.mark_slice("a.tf", 0, "done", result={"ok": True})
    assert done.processed_at is not None and done.result == {"ok": True}
    await store.runs.mark_slice("a.tf", 1, "processing", worker="w2")
    await store.runs.mark_slice("a.tf", 1, "failed", error="worker died")
    retried = await store.runs.mark_slice("a.tf", 1, "queued")
    assert retried.retries == 1 and retried.assigned_worker is None and retried.error == "worker died"
    assert await store.runs.slice_counts("wf") == {"queued": 5, "processing": 0, "done": 1, "failed": 0}
    assert await store.runs.slice_counts("other") == {"queued": 0, "processing": 0, "done": 0, "failed": 0}
    assert (await store.runs.get_slice("a.tf", 0)).status == "done"
    assert (await store.runs.list_slices(status="queued")).total == 5
    assert [s.slice_id for s in (await store.runs.list_slices(worker="w1")).items] == [0]
    with pytest.raises(NotFound, match="TF slice"):
        await store.runs.get_slice("a.tf", 99)
    with pytest.raises(InvalidQuery, match="status"):
        await store.runs.mark_slice("a.tf", 0, "lost")  # type: ignore[arg-type]


async def test_workers_and_run_states(store: Store) -> None:
    worker = await store.runs.upsert_worker("worker-1", "alice", "running", execution_id="wf", hostname="h")
    assert worker.slices_done == 0 and worker.stopped_at is None
    later = await store.runs.upsert_worker("worker-1", "alice", "running", slices_done=3)
    assert later.slices_done == 3 and later.hostname == "h" and later.started_at == worker.started_at
    stopped = await store.runs.upsert_worker("worker-1", "alice", "stopped")
    assert stopped.stopped_at is not None
    await store.runs.upsert_worker("worker-2", "bob", "running")
    assert [w.name for w in (await store.runs.list_workers(namespace="alice")).items] == ["worker-1"]

    state = await store.runs.upsert_run_state(100010, "alice", "physics", workers_active=3, workers_target=5,
                                              slices_queued=7, latency_p50_ms=12.5)
    assert state.workers_target == 5 and state.latency_p50_ms == 12.5
    newer = await store.runs.upsert_run_state(100010, "alice", "standby", workers_active=5, slices_done=7)
    assert newer.phase == "standby" and newer.slices_queued == 0 and newer.updated_at >= state.updated_at
    assert await store.runs.get_run_state(100010) == newer
    with pytest.raises(NotFound, match="run state"):
        await store.runs.get_run_state(5)
