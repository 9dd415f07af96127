"""Batch writes: ``mark_slices`` (the same meaning as ``mark_slice``, in order) and ``add_state_events``;
the SQLite memory caps the 10k-STF memory bench turns down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from workflows.store import Database, InvalidQuery, SliceIn, SliceMark, StateEventIn, Store, StoreError
from workflows.store.database import default_url

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# (slice_id, status, worker, error, result, seconds after T0) - a retry, a failure, plain results
SCRIPT: list[tuple[int, str, str | None, str | None, dict | None, int]] = [
    (0, "processing", "w1", None, None, 1),
    (0, "failed", None, "oom", None, 2),
    (0, "queued", None, None, None, 3),
    (0, "processing", "w2", None, None, 4),
    (0, "done", "w2", None, {"events": 7}, 5),
    (1, "processing", "w1", None, None, 1),
    (1, "done", "w1", None, {"events": 3}, 2),
    (2, "queued", None, "not counted: still queued", None, 1),
    (2, "failed", "w3", "bad input", None, 2),
]


async def _queue(store: Store, tf_filename: str, count: int) -> None:
    await store.runs.add_slices([SliceIn(namespace="alice", execution_id="wf", run_number=100010,
                                         tf_filename=tf_filename, slice_id=i, start=i, end=i, tf_count=1)
                                 for i in range(count)])


async def test_mark_slices_means_what_mark_slice_means(store: Store) -> None:
    await _queue(store, "one.tf", 3)
    await _queue(store, "batch.tf", 3)
    for slice_id, status, worker, error, result, s in SCRIPT:
        await store.runs.mark_slice("one.tf", slice_id, status, worker=worker, error=error,  # type: ignore[arg-type]
                                    result=result, at=T0 + timedelta(seconds=s))
    marks = [SliceMark(tf_filename="batch.tf", slice_id=slice_id, status=status, worker=worker,  # type: ignore[arg-type]
                       error=error, result=result, at=T0 + timedelta(seconds=s))
             for slice_id, status, worker, error, result, s in SCRIPT]
    assert await store.runs.mark_slices(marks) == len(SCRIPT)
    ignored = {"id", "tf_filename", "requested_at"}
    for slice_id in range(3):
        one = (await store.runs.get_slice("one.tf", slice_id)).model_dump(exclude=ignored)
        batch = (await store.runs.get_slice("batch.tf", slice_id)).model_dump(exclude=ignored)
        assert batch == one
    first = await store.runs.get_slice("batch.tf", 0)
    assert (first.status, first.retries, first.assigned_worker, first.result) == ("done", 1, "w2", {"events": 7})
    assert first.processing_start_at == T0 + timedelta(seconds=4) and first.processed_at == T0 + timedelta(seconds=5)
    assert (await store.runs.get_slice("batch.tf", 2)).retries == 0


async def test_mark_slices_records_processing_start_and_skips_unknown_slices(store: Store) -> None:
    await _queue(store, "a.tf", 2)
    started, finished = T0, T0 + timedelta(seconds=3)
    applied = await store.runs.mark_slices([
        SliceMark(tf_filename="a.tf", slice_id=0, status="done", worker="w1", result={"ok": True},
                  at=finished, processing_start_at=started),
        SliceMark(tf_filename="a.tf", slice_id=7, status="done", at=finished),     # never queued
        SliceMark(tf_filename="nowhere.tf", slice_id=0, status="done", at=finished),
        SliceMark(tf_filename="a.tf", slice_id=1, status="processing", worker="w2", processing_start_at=started),
        SliceMark(tf_filename="a.tf", slice_id=1, status="queued", error="worker died"),  # a retry
    ])
    assert applied == 3
    done = await store.runs.get_slice("a.tf", 0)
    assert (done.processing_start_at, done.processed_at, done.assigned_worker) == (started, finished, "w1")
    retried = await store.runs.get_slice("a.tf", 1)
    assert (retried.status, retried.retries, retried.assigned_worker, retried.error) == ("queued", 1, None, "worker died")
    assert retried.processing_start_at == started
    assert await store.runs.slice_counts("wf") == {"queued": 1, "processing": 0, "done": 1, "failed": 0}
    assert await store.runs.mark_slices([]) == 0


async def test_mark_slices_rejects_a_naive_time_naming_the_mark(store: Store) -> None:
    await _queue(store, "a.tf", 2)
    marks = [SliceMark(tf_filename="a.tf", slice_id=0, status="done", at=T0),
             SliceMark(tf_filename="a.tf", slice_id=1, status="done", at=datetime(2026, 5, 1, 12, 0))]
    with pytest.raises(InvalidQuery, match=r"batch\[1\]\.at"):
        await store.runs.mark_slices(marks)
    assert (await store.runs.get_slice("a.tf", 0)).status == "queued"  # nothing of the batch was applied


async def test_add_state_events(store: Store) -> None:
    events = [
        StateEventIn(namespace="alice", event_type="start_run", state="run", substate="physics",
                     execution_id="wf", run_number=100010, timestamp=T0, simulation_tick=1.5),
        StateEventIn(namespace="alice", event_type="pause_run", state="run", substate="standby",
                     execution_id="wf", run_number=100010, timestamp=T0 + timedelta(seconds=1)),
        StateEventIn(namespace="alice", event_type="end_run", state="no_beam", substate="not_ready",
                     execution_id="wf", run_number=100010, data={"total_stf_files": 4}),
    ]
    before = datetime.now(UTC)
    assert await store.events.add_state_events(events) == 3
    page = await store.events.list_state_events(execution_id="wf")
    assert [e.event_type for e in page.items] == ["end_run", "pause_run", "start_run"]
    assert page.items[0].data == {"total_stf_files": 4} and page.items[0].timestamp >= before
    assert page.items[2].simulation_tick == 1.5 and page.items[2].timestamp == T0 and page.items[2].data == {}
    assert await store.events.add_state_events([]) == 0
    with pytest.raises(InvalidQuery, match=r"batch\[0\]\.timestamp"):
        await store.events.add_state_events([events[0].model_copy(update={"timestamp": datetime(2026, 5, 1)})])


async def test_sqlite_memory_caps_are_arguments(tmp_path: Path) -> None:
    async with Database(default_url(tmp_path / "state")) as db:
        async with db.session() as session:
            defaults = [(await session.execute(text(f"PRAGMA {name}"))).scalar() for name in ("mmap_size", "cache_size")]
    assert defaults == [256 * 1024 * 1024, -32 * 1024]
    async with Database(default_url(tmp_path / "state"), sqlite_mmap_bytes=0, sqlite_cache_kib=2048) as db:
        async with db.session() as session:
            capped = [(await session.execute(text(f"PRAGMA {name}"))).scalar() for name in ("mmap_size", "cache_size")]
    assert capped == [0, -2048]
    with pytest.raises(StoreError, match="sqlite_cache_kib"):
        Database(default_url(tmp_path / "state"), sqlite_cache_kib=0)


async def test_add_sample_slices_stores_what_add_slices_stores(store: Store) -> None:
    ranges = [(0, 3, 4), (4, 6, 3), (7, 9, 3)]
    assert await store.runs.add_slices([SliceIn(namespace="alice", execution_id="wf", run_number=100010,
                                                tf_filename="models.tf", slice_id=i, start=s, end=e, tf_count=c,
                                                requested_at=T0) for i, (s, e, c) in enumerate(ranges)]) == 3
    assert await store.runs.add_sample_slices(namespace="alice", execution_id="wf", run_number=100010,
                                              tf_filename="ranges.tf", ranges=ranges, requested_at=T0) == 3
    # idempotent like add_slices: the same sample again adds nothing
    assert await store.runs.add_sample_slices(namespace="alice", execution_id="wf", run_number=100010,
                                              tf_filename="ranges.tf", ranges=ranges, requested_at=T0) == 0
    fields = ("namespace", "execution_id", "run_number", "slice_id", "start", "end", "tf_count", "status",
              "retries", "requested_at")
    by_models = (await store.runs.list_slices(tf_filename="models.tf", limit=10)).items
    by_ranges = (await store.runs.list_slices(tf_filename="ranges.tf", limit=10)).items
    assert [[getattr(s, f) for f in fields] for s in sorted(by_ranges, key=lambda s: s.slice_id)] == \
        [[getattr(s, f) for f in fields] for s in sorted(by_models, key=lambda s: s.slice_id)] == \
        [["alice", "wf", 100010, i, start, end, count, "queued", 0, T0] for i, (start, end, count) in enumerate(ranges)]
    with pytest.raises(InvalidQuery, match=r"ranges\[1\]\.tf_count"):
        await store.runs.add_sample_slices(namespace="alice", execution_id="wf", run_number=100010,
                                           tf_filename="bad.tf", ranges=[(0, 0, 1), (1, 0, -1)])
    with pytest.raises(InvalidQuery, match="requested_at"):
        await store.runs.add_sample_slices(namespace="alice", execution_id="wf", run_number=100010,
                                           tf_filename="bad.tf", ranges=ranges, requested_at=datetime(2026, 5, 1))


async def test_a_group_of_marks_applies_as_the_same_marks_one_by_one(store: Store) -> None:
    """On PostgreSQL consecutive marks of one shape on distinct slices go as one UPDATE ... FROM
    unnest; applied one call each they take the per-row statement. Both must store the same."""
    shapes = [
        dict(status="processing", worker="w1", at=T0 + timedelta(seconds=1)),
        dict(status="done", worker="w2", result={"events": 3, "nested": {"ok": True}}, at=T0 + timedelta(seconds=2),
             processing_start_at=T0 + timedelta(seconds=1)),
        dict(status="failed", worker="w3", error="bad input", at=T0 + timedelta(seconds=3)),
        dict(status="queued", error="retry me"),
    ]
    for name in ("grouped.tf", "single.tf"):
        await _queue(store, name, 4)
    for shape in shapes:  # every slice through every shape, in order
        grouped = [SliceMark(tf_filename="grouped.tf", slice_id=i, **shape) for i in range(4)]
        assert await store.runs.mark_slices(grouped) == 4
        for i in range(4):
            assert await store.runs.mark_slices([SliceMark(tf_filename="single.tf", slice_id=i, **shape)]) == 1
    # a mark for a slice that is not stored is skipped, not counted, in a group too
    late = T0 + timedelta(seconds=9)
    missing = [SliceMark(tf_filename="grouped.tf", slice_id=i, status="processing", worker="w9", at=late)
               for i in (3, 99)]
    assert await store.runs.mark_slices(missing) == 1
    assert await store.runs.mark_slices([SliceMark(tf_filename="single.tf", slice_id=3, status="processing",
                                                   worker="w9", at=late)]) == 1
    fields = ("slice_id", "status", "retries", "assigned_worker", "error", "result", "processing_start_at",
              "processed_at")
    rows = {name: sorted(([getattr(s, f) for f in fields]
                          for s in (await store.runs.list_slices(tf_filename=name, limit=10)).items))
            for name in ("grouped.tf", "single.tf")}
    assert rows["grouped.tf"] == rows["single.tf"]
    assert [r[2] for r in rows["grouped.tf"]] == [1, 1, 1, 1]  # failed -> queued counted a retry each
