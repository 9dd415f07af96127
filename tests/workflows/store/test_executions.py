"""Executions: ids, status changes, filters, keyset pagination, closing orphans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.store import InvalidQuery, NotFound, Store
from workflows.store.records import ExecutionRecord


async def _create(store: Store, workflow: str = "stf_datataking", user: str = "alice",
                  namespace: str = "alice") -> ExecutionRecord:
    return await store.executions.create(
        workflow, namespace, user, {"daq": {"stf_count": 3}}, "cfg-hash", "git:abc123",
        {"stf_count": 3}, realtime=False, reason="smoke test", node="node-a",
    )


async def test_create_allocates_ids_per_workflow_and_user(store: Store) -> None:
    first = await _create(store)
    second = await _create(store)
    bob = await _create(store, user="bob", namespace="bob")
    other = await _create(store, workflow="fast_processing")
    assert [first.execution_id, second.execution_id] == ["stf_datataking-alice-0001", "stf_datataking-alice-0002"]
    assert bob.execution_id == "stf_datataking-bob-0001"
    assert other.execution_id == "fast_processing-alice-0001"
    assert first.status == "pending" and first.end_time is None
    assert first.config == {"daq": {"stf_count": 3}} and first.reason == "smoke test"
    assert first.start_time.tzinfo is not None and first.start_time.utcoffset() == timedelta(0)
    assert await store.executions.get(first.execution_id) == first


async def test_ids_widen_past_four_digits(store: Store) -> None:
    await store.counters.next("execution:wide:alice", start=9999)
    record = await _create(store, workflow="wide")
    assert record.execution_id == "wide-alice-10000"


async def test_set_status_sets_end_time_on_terminal_states(store: Store) -> None:
    record = await _create(store)
    running = await store.executions.set_status(record.execution_id, "running", phase="physics",
                                                run_number=100010)
    assert running.status == "running" and running.end_time is None
    assert running.phase == "physics" and running.run_number == 100010
    failed = await store.executions.set_status(record.execution_id, "failed", error="boom")
    assert failed.status == "failed" and failed.error == "boom"
    assert failed.end_time is not None and failed.end_time >= failed.start_time
    again = await store.executions.get(record.execution_id)
    assert again.end_time == failed.end_time


async def test_unknown_ids_and_statuses_are_named(store: Store) -> None:
    with pytest.raises(NotFound, match="execution.*nope-0001"):
        await store.executions.get("nope-0001")
    with pytest.raises(NotFound):
        await store.executions.set_status("nope-0001", "running")
    record = await _create(store)
    with pytest.raises(InvalidQuery, match="status: unknown status 'done'"):
        await store.executions.set_status(record.execution_id, "done")  # type: ignore[arg-type]


async def test_list_filters(store: Store) -> None:
    a1 = await _create(store)
    a2 = await _create(store)
    b1 = await _create(store, user="bob", namespace="bob")
    await store.executions.set_status(a1.execution_id, "completed")

    def ids(page: object) -> list[str]:
        return [item.execution_id for item in page.items]  # type: ignore[attr-defined]

    assert ids(await store.executions.list()) == [b1.execution_id, a2.execution_id, a1.execution_id]
    assert ids(await store.executions.list(namespace="alice")) == [a2.execution_id, a1.execution_id]
    assert ids(await store.executions.list(executed_by="bob")) == [b1.execution_id]
    assert ids(await store.executions.list(status="completed")) == [a1.execution_id]
    assert ids(await store.executions.list(currently_running=True)) == [b1.execution_id, a2.execution_id]
    assert ids(await store.executions.list(currently_running=False)) == [a1.execution_id]
    assert ids(await store.executions.list(workflow_name="other")) == []
    later = datetime.now(UTC) + timedelta(hours=1)
    assert ids(await store.executions.list(start_time=later)) == []
    assert len(ids(await store.executions.list(end_time=later))) == 3


async def test_pages_walk_every_execution_once(store: Store) -> None:
    created = [(await _create(store)).execution_id for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.executions.list(limit=3, cursor=cursor)
        assert page.total == 7
        seen += [item.execution_id for item in page.items]
        if not page.has_more:
            assert page.next_cursor is None
            break
        cursor = page.next_cursor
    assert seen == list(reversed(created))


async def test_close_running_closes_executions_and_their_runs(store: Store) -> None:
    running = await _create(store)
    pending = await _create(store)
    done = await _create(store)
    elsewhere = await _create(store, user="bob", namespace="bob")
    await store.executions.set_status(running.execution_id, "running")
    await store.executions.set_status(done.execution_id, "completed")
    run = await store.runs.start_run(await store.runs.allocate_run_number(), "alice", running.execution_id)

    assert await store.executions.close_running(namespace="alice") == 2
    for execution_id in (running.execution_id, pending.execution_id):
        closed = await store.executions.get(execution_id)
        assert closed.status == "terminated" and closed.end_time is not None
        assert "restarted" in (closed.error or "")
    assert (await store.executions.get(done.execution_id)).error is None
    assert (await store.executions.get(elsewhere.execution_id)).status == "pending"
    ended = await store.runs.get_run(run.run_number)
    assert ended.status == "ended" and ended.end_time is not None
    assert await store.executions.close_running() == 1
    assert (await store.executions.list(currently_running=True)).total == 0
    with pytest.raises(InvalidQuery, match="status: must be terminal"):
        await store.executions.close_running(status="running")
