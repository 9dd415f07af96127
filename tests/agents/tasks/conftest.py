"""Fixtures of the task-workflow tests: an embedded bus with N in-process task workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Awaitable

import pytest

from agents.testbed.bus.embedded import EmbeddedBus
from agents.tasks.worker import TaskWorker

NAMESPACE = "tasks-test"


@pytest.fixture
async def bus() -> AsyncIterator[EmbeddedBus]:
    async with EmbeddedBus() as bus:
        yield bus


@pytest.fixture
async def start_workers(bus: EmbeddedBus) -> AsyncIterator[Callable[[int], Awaitable[list[TaskWorker]]]]:
    started: list[TaskWorker] = []

    async def start(count: int) -> list[TaskWorker]:
        workers = [TaskWorker(bus, NAMESPACE, name=f"w{len(started) + i}") for i in range(count)]
        for worker in workers:
            await worker.start()
        started.extend(workers)
        return workers

    yield start
    for worker in started:
        await worker.stop()
