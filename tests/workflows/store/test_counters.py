"""Counters and id allocation, in one process and in two processes sharing the database."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.workflows.store.conftest import Backend
from workflows.store import Store

CHILD = Path(__file__).with_name("allocate_child.py")
ROOT = Path(__file__).parents[3]
PER_CHILD = 200


async def test_counter_starts_where_asked_and_counts_up(store: Store) -> None:
    assert await store.counters.current("c") is None
    assert [await store.counters.next("c", start=5) for _ in range(3)] == [5, 6, 7]
    assert await store.counters.next("other") == 1
    assert await store.counters.current("c") == 7


async def test_concurrent_tasks_get_distinct_values(store: Store) -> None:
    values = await asyncio.gather(*(store.counters.next("shared") for _ in range(40)))
    assert sorted(values) == list(range(1, 41))


async def _two_children(backend: Backend, kind: str) -> list[object]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), backend.url, backend.schema or "-", kind, str(PER_CHILD),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        )
        for _ in range(2)
    ]
    for proc in procs:  # both open (and upgrade) before either allocates
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
    outputs = []
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    for proc in procs:
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        outputs.append(json.loads(out))
    return outputs


async def test_two_processes_allocate_unique_gapless_execution_ids(backend: Backend) -> None:
    async with backend.store():  # schema in place before the children race
        pass
    first, second = await _two_children(backend, "executions")
    everything = first + second
    assert len(set(everything)) == 2 * PER_CHILD
    assert sorted(everything) == [f"race-bob-{n:04d}" for n in range(1, 2 * PER_CHILD + 1)]
    async with backend.store() as store:
        page = await store.executions.list(workflow_name="race", limit=1)
        assert page.total == 2 * PER_CHILD


async def test_two_processes_allocate_unique_gapless_run_numbers(backend: Backend) -> None:
    first, second = await _two_children(backend, "runs")  # the children also race the upgrade
    assert sorted(first + second) == list(range(100010, 100010 + 2 * PER_CHILD))
    assert first == sorted(first) and second == sorted(second)
