"""Retention: old messages/logs/events and finished executions go; running work stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.store import LogIn, MessageIn, SliceIn, Store


async def _execution_with_children(store: Store, user: str) -> tuple[str, int]:
    record = await store.executions.create("w", user, user, {}, "h", None, {}, False)
    run = await store.runs.allocate_run_number()
    await store.runs.start_run(run, user, record.execution_id)
    await store.runs.add_stf(f"swf.{run}.000001.stf", user, record.execution_id, run, 1)
    await store.runs.add_tf_sample(f"{run}.tf", f"swf.{run}.000001.stf", user, record.execution_id, run, 0, 9, 10)
    await store.runs.add_slices([SliceIn(namespace=user, execution_id=record.execution_id, run_number=run,
                                         tf_filename=f"{run}.tf", slice_id=0, start=0, end=9, tf_count=10)])
    await store.runs.upsert_worker(f"worker-{user}", user, "running", execution_id=record.execution_id)
    await store.runs.upsert_run_state(run, user, "physics")
    return record.execution_id, run


async def test_prune_removes_old_finished_work_only(store: Store) -> None:
    finished, finished_run = await _execution_with_children(store, "alice")
    running, running_run = await _execution_with_children(store, "bob")
    await store.executions.set_status(finished, "completed")
    await store.executions.set_status(running, "running")
    old = datetime.now(UTC) - timedelta(days=30)
    await store.logs.add_logs([LogIn(agent="a", level=20, message="old", created_at=old),
                               LogIn(agent="a", level=20, message="new")])
    await store.events.add_messages([MessageIn(namespace="alice", msg_type="m", created_at=old)])
    await store.events.add_state_event("alice", "t", "no_beam", timestamp=old)

    report = await store.prune(datetime.now(UTC) + timedelta(seconds=5))
    assert report.logs == 2 and report.messages == 1 and report.state_events == 1
    assert (report.executions, report.runs, report.stf_files, report.tf_samples, report.slices,
            report.workers, report.run_states) == (1, 1, 1, 1, 1, 1, 1)
    assert [e.execution_id for e in (await store.executions.list()).items] == [running]
    assert [r.run_number for r in (await store.runs.list_runs()).items] == [running_run]
    assert (await store.runs.slice_counts(finished)) == {"queued": 0, "processing": 0, "done": 0, "failed": 0}
    assert (await store.runs.slice_counts(running))["queued"] == 1
    assert finished_run != running_run

    nothing = await store.prune(datetime.now(UTC) - timedelta(days=365))
    assert nothing.model_dump() == dict.fromkeys(nothing.model_dump(), 0)
