"""Logs: batched writes, filters, keyset pagination stable under inserts, limits and cursors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from workflows.store import InvalidQuery, LogIn, NotFound, Store
from workflows.store.paging import decode_cursor, encode_cursor
from workflows.store.records import COUNT_CAP

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _line(i: int, agent: str = "data-agent-alice-1", level: int = logging.INFO, **extra: object) -> LogIn:
    return LogIn(namespace="alice", agent=agent, instance="i1", execution_id="wf-alice-0001", level=level,
                 message=f"line {i}", created_at=T0 + timedelta(milliseconds=i), **extra)  # type: ignore[arg-type]


async def test_add_and_filter(store: Store) -> None:
    await store.logs.add_logs([
        _line(0),
        _line(1, level=logging.WARNING),
        _line(2, agent="fastmon-agent-alice-1", level=logging.ERROR),
        LogIn(namespace="bob", agent="data-agent-bob-1", level=logging.ERROR, message="Disk 100% FULL",
              created_at=T0 + timedelta(milliseconds=3), extra={"disk": "/data"}),
    ])
    everything = await store.logs.list_logs()
    assert [entry.message for entry in everything.items] == ["Disk 100% FULL", "line 2", "line 1", "line 0"]
    assert everything.items[0].levelname == "ERROR" and everything.items[0].extra == {"disk": "/data"}

    def messages(page: object) -> list[str]:
        return [entry.message for entry in page.items]  # type: ignore[attr-defined]

    assert messages(await store.logs.list_logs(namespace="alice", min_level="warning")) == ["line 2", "line 1"]
    assert messages(await store.logs.list_logs(min_level=logging.ERROR)) == ["Disk 100% FULL", "line 2"]
    assert messages(await store.logs.list_logs(agent="data-agent-alice-1", min_level="WARNING")) == ["line 1"]
    assert messages(await store.logs.list_logs(execution_id="wf-alice-0001", min_level=40)) == ["line 2"]
    assert messages(await store.logs.list_logs(search="disk 100%")) == ["Disk 100% FULL"]
    assert messages(await store.logs.list_logs(search="100_")) == []  # LIKE wildcards are literal
    assert messages(await store.logs.list_logs(start_time=T0 + timedelta(milliseconds=1),
                                               end_time=T0 + timedelta(milliseconds=2))) == ["line 2", "line 1"]
    one = everything.items[1]
    assert await store.logs.get_log(one.id) == one
    with pytest.raises(NotFound, match="log entry"):
        await store.logs.get_log(10**9)
    with pytest.raises(InvalidQuery, match="min_level: unknown level 'LOUD'"):
        await store.logs.list_logs(min_level="LOUD")


async def test_timestamps_come_back_aware_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    local = datetime(2026, 6, 1, 14, 30, 0, 123456, tzinfo=paris)
    await store.logs.add_logs([LogIn(agent="a", level=20, message="m", created_at=local)])
    [entry] = (await store.logs.list_logs()).items
    assert entry.created_at.utcoffset() == timedelta(0)
    assert entry.created_at == local and entry.created_at.hour == 12 and entry.created_at.microsecond == 123456


async def test_keyset_pages_are_stable_under_inserts(store: Store) -> None:
    await store.logs.add_logs([_line(i) for i in range(250)])
    first = await store.logs.list_logs(limit=100)
    assert first.has_more and first.total == 250
    # newer lines and lines with the same timestamp as the page boundary arrive meanwhile
    await store.logs.add_logs([_line(1000 + i) for i in range(30)])
    seen = [entry.message for entry in first.items]
    cursor = first.next_cursor
    while cursor:
        page = await store.logs.list_logs(limit=100, cursor=cursor)
        seen += [entry.message for entry in page.items]
        cursor = page.next_cursor
    assert seen == [f"line {i}" for i in range(249, -1, -1)]


async def test_later_pages_carry_the_first_pages_total(store: Store) -> None:
    await store.logs.add_logs([_line(i) for i in range(250)] + [_line(i, level=logging.ERROR) for i in range(250, 260)])
    first = await store.logs.list_logs(limit=100)
    errors = await store.logs.list_logs(min_level="ERROR", limit=4)
    assert (first.total, errors.total) == (260, 10)
    await store.logs.add_logs([_line(1000 + i, level=logging.ERROR) for i in range(30)])  # arriving meanwhile
    second = await store.logs.list_logs(limit=100, cursor=first.next_cursor)
    more_errors = await store.logs.list_logs(min_level="ERROR", limit=4, cursor=errors.next_cursor)
    assert (second.total, second.total_is_lower_bound, second.has_more) == (260, False, True)
    assert (more_errors.total, more_errors.total_is_lower_bound) == (10, False)
    assert [e.message for e in more_errors.items] == [f"line {i}" for i in range(255, 251, -1)]
    # a cursor that carries no count (as encode_cursor makes without one) counts again
    position = decode_cursor("logs", first.next_cursor or "", 2)
    recounted = await store.logs.list_logs(limit=100, cursor=encode_cursor("logs", position))
    assert recounted.items == second.items and recounted.total == 290
    for forged in (-1, 1.5, "3", True):
        with pytest.raises(InvalidQuery, match="cursor: is not a cursor of the logs list"):
            await store.logs.list_logs(cursor=encode_cursor("logs", position, forged))  # type: ignore[arg-type]


async def test_equal_timestamps_page_by_id(store: Store) -> None:
    same = T0 + timedelta(days=1)
    await store.logs.add_logs([LogIn(agent="a", level=20, message=str(i), created_at=same) for i in range(5)])
    first = await store.logs.list_logs(limit=2)
    rest = await store.logs.list_logs(limit=3, cursor=first.next_cursor)
    assert [e.message for e in first.items + rest.items] == ["4", "3", "2", "1", "0"]
    assert not rest.has_more and rest.next_cursor is None


async def test_limit_and_cursor_errors_name_the_field(store: Store) -> None:
    with pytest.raises(InvalidQuery, match="limit: must be an integer from 1 to 200 .got 201."):
        await store.logs.list_logs(limit=201)
    with pytest.raises(InvalidQuery, match="limit"):
        await store.logs.list_logs(limit=0)
    with pytest.raises(InvalidQuery, match="cursor: is not a cursor of the logs list"):
        await store.logs.list_logs(cursor="garbage!")
    await store.executions.create("w", "ns", "u", {}, "h", None, {}, False)
    await store.executions.create("w", "ns", "u", {}, "h", None, {}, False)
    other = (await store.executions.list(limit=1)).next_cursor
    assert other is not None
    with pytest.raises(InvalidQuery, match="cursor"):
        await store.logs.list_logs(cursor=other)


async def test_total_is_capped_and_says_so(store: Store) -> None:
    await store.logs.add_logs([_line(i) for i in range(COUNT_CAP + 5)])
    page = await store.logs.list_logs(limit=10)
    assert page.total == COUNT_CAP and page.total_is_lower_bound and page.has_more
    # a row-by-row filter (search, min_level) is counted over the newest COUNT_CAP rows only
    searched = await store.logs.list_logs(search="line 1000")
    assert searched.total == 6 and searched.total_is_lower_bound  # 1000, 10000..10004
    errors = await store.logs.list_logs(min_level="ERROR", limit=10)
    assert errors.items == [] and errors.total == 0 and not errors.has_more
    narrow = await store.logs.list_logs(start_time=T0 + timedelta(milliseconds=10_000), search="line")
    assert narrow.total == 5 and not narrow.total_is_lower_bound


async def test_total_at_the_cap_is_exact_and_one_past_it_is_a_lower_bound(store: Store) -> None:
    """The count probes for a match past COUNT_CAP before counting: both sides of the edge."""
    await store.logs.add_logs([_line(i) for i in range(COUNT_CAP)])
    at_cap = await store.logs.list_log_lines(limit=5)
    assert (at_cap.total, at_cap.total_is_lower_bound) == (COUNT_CAP, False)
    await store.logs.add_logs([_line(COUNT_CAP)])
    past = await store.logs.list_log_lines(limit=5)
    assert (past.total, past.total_is_lower_bound) == (COUNT_CAP, True)
    below = await store.logs.list_log_lines(start_time=T0 + timedelta(milliseconds=COUNT_CAP - 2), limit=2)
    assert (below.total, below.total_is_lower_bound, below.has_more) == (3, False, True)
    walked = await store.logs.list_log_lines(start_time=T0 + timedelta(milliseconds=COUNT_CAP - 2), limit=2,
                                             cursor=below.next_cursor)
    assert ([line.message for line in walked.items], walked.total) == ([f"line {COUNT_CAP - 2}"], 3)


async def test_prune_logs(store: Store) -> None:
    await store.logs.add_logs([_line(i) for i in range(3)])
    await store.logs.add_logs([LogIn(agent="a", level=20, message="fresh")])
    assert await store.logs.prune_logs(datetime.now(UTC) - timedelta(days=1)) == 3
    assert [e.message for e in (await store.logs.list_logs()).items] == ["fresh"]
