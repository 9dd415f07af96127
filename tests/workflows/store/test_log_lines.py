"""``list_log_lines``: the rows of ``list_logs`` without namespace, instance and extra, same filters and cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.store import LogIn, LogLine, Store

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def test_log_lines_are_the_lean_projection_of_list_logs(store: Store) -> None:
    await store.logs.add_logs([
        LogIn(namespace="alice", agent=f"worker-agent-alice-{i % 3}", instance="i1", execution_id="wf-1",
              level=(20, 30, 40)[i % 3], message=f"line {i}", created_at=T0 + timedelta(seconds=i),
              extra={"slice": i})
        for i in range(25)
    ])
    for filters in ({}, {"agent": "worker-agent-alice-1"}, {"min_level": "ERROR"}, {"search": "line 1"}):
        full = await store.logs.list_logs(limit=4, **filters)  # type: ignore[arg-type]
        lean = await store.logs.list_log_lines(limit=4, **filters)  # type: ignore[arg-type]
        assert (lean.total, lean.has_more, lean.total_is_lower_bound) == (full.total, full.has_more,
                                                                          full.total_is_lower_bound)
        assert lean.items == [LogLine.model_validate(r.model_dump()) for r in full.items]
        assert lean.next_cursor == full.next_cursor
        if lean.next_cursor:
            second = await store.logs.list_log_lines(limit=4, cursor=lean.next_cursor, **filters)  # type: ignore[arg-type]
            expected = await store.logs.list_logs(limit=4, cursor=full.next_cursor, **filters)  # type: ignore[arg-type]
            assert [r.id for r in second.items] == [r.id for r in expected.items]
            assert second.items and second.items[0].id < lean.items[-1].id
    assert "extra" not in LogLine.model_fields and "namespace" not in LogLine.model_fields


async def test_the_json_page_is_the_model_page_dumped_byte_for_byte(store: Store) -> None:
    messages = ['disk "full" \u00e9\n', "tab\there \\ back", "\u2603 \U0001f680 \x1f", "plain"]
    await store.logs.add_logs([
        LogIn(namespace="alice", agent=f"worker-agent-alice-{i % 2}", execution_id="wf-1" if i % 3 else None,
              level=(20, 40)[i % 2], message=f"{messages[i % len(messages)]} {i}",
              created_at=T0 + timedelta(seconds=i, microseconds=0 if i % 4 else 123456))
        for i in range(9)
    ])
    for filters in ({}, {"agent": "worker-agent-alice-1"}, {"min_level": "ERROR"}, {"search": "\u00e9"},
                    {"namespace": "nobody"}, {"start_time": T0 + timedelta(seconds=2)}):
        cursor: str | None = None
        for _ in range(4):  # first page and the cursor pages after it
            page = await store.logs.list_log_lines(limit=3, cursor=cursor, **filters)  # type: ignore[arg-type]
            wire = await store.logs.list_log_lines_json(limit=3, cursor=cursor, **filters)  # type: ignore[arg-type]
            assert wire.text == page.model_dump_json(), filters
            assert wire.data == page.model_dump(mode="json"), filters
            cursor = page.next_cursor
            if cursor is None:
                break
