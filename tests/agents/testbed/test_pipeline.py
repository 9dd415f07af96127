"""The agents' ordered write-then-publish pipeline, alone and in the data agent on a real store."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from agents.testbed.bus.base import Delivery
from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.framework.agent import AgentContext
from agents.testbed.framework.destinations import Destinations
from agents.testbed.framework.pipeline import Pipeline
from agents.testbed.kinds.data import DataAgent
from workflows.run_messages import StfGen
from workflows.store.errors import NotFound, StoreUnavailable
from workflows.store.store import Store

LOG = logging.getLogger("test-pipeline")


async def test_follow_ups_run_in_submission_order_each_after_its_own_write() -> None:
    pipeline = Pipeline(LOG)
    releases = [asyncio.Event() for _ in range(4)]
    written: list[int] = []
    published: list[tuple[int, list[int]]] = []

    def write(i: int):  # noqa: ANN202 - a factory of the write coroutine
        async def run() -> int:
            await releases[i].wait()
            written.append(i)
            return i * 10
        return run

    def then(i: int):  # noqa: ANN202
        async def run(result: int) -> None:
            assert result == i * 10
            published.append((i, list(written)))
        return run

    for i in range(4):
        await pipeline.submit(write(i), then(i))  # returns before the write: the handler is free
    assert written == [] and len(pipeline) == 4
    for i in (3, 1, 2, 0):  # the writes finish out of order
        releases[i].set()
        await asyncio.sleep(0)
    await pipeline.drain()
    assert [i for i, _ in published] == [0, 1, 2, 3]
    for i, seen in published:
        assert i in seen  # its own write had returned before its follow-up ran


async def test_a_failed_write_skips_its_follow_up_only(caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(LOG)
    published: list[int] = []

    async def fails() -> None:
        raise StoreUnavailable("database unavailable for 60 s (register x): gone")

    async def ok() -> int:
        return 1

    async def record(i: int) -> None:
        published.append(i)

    await pipeline.submit(ok, lambda _r: record(0))
    await pipeline.submit(fails, lambda _r: record(1), what="register x")
    await pipeline.submit(ok, lambda _r: record(2))
    await pipeline.drain()
    assert published == [0, 2]
    assert "register x failed: StoreUnavailable" in caplog.text


async def test_a_cancelled_write_does_not_stop_the_pipeline(caplog: pytest.LogCaptureFixture) -> None:
    """A write cancelled by someone else (not the pipeline's own task) skips its follow-up like a
    failed one; the entries behind it still publish and drain() returns."""
    pipeline = Pipeline(LOG)
    published: list[int] = []

    async def cancelled() -> None:
        raise asyncio.CancelledError

    async def ok() -> int:
        return 1

    async def record(i: int) -> None:
        published.append(i)

    await pipeline.submit(cancelled, lambda _r: record(0), what="register y")
    await pipeline.submit(ok, lambda _r: record(1))
    async with asyncio.timeout(5):  # the old pipeline's task ended on the CancelledError: drain() hung
        await pipeline.drain()
    assert published == [1]
    assert "register y failed: cancelled" in caplog.text
    await pipeline.close()


async def test_depth_bounds_the_entries_in_flight() -> None:
    pipeline = Pipeline(LOG, depth=2)
    gate = asyncio.Event()

    async def write() -> None:
        await gate.wait()

    async def nothing(_r: object) -> None:
        return None

    await pipeline.submit(write, nothing)
    await pipeline.submit(write, nothing)
    third = asyncio.ensure_future(pipeline.submit(write, nothing))
    await asyncio.sleep(0.05)
    assert not third.done()  # back pressure: the handler waits for a free slot
    gate.set()
    await third
    await pipeline.drain()
    assert len(pipeline) == 0


async def test_busy_while_entries_are_in_flight() -> None:
    held: list[int] = []
    pipeline = Pipeline(LOG, hold=lambda: held.append(1), release=lambda: held.append(-1))
    gate = asyncio.Event()

    async def write() -> None:
        await gate.wait()

    async def nothing(_r: object) -> None:
        return None

    await pipeline.submit(write, nothing)
    assert sum(held) == 1
    gate.set()
    await pipeline.drain()
    assert sum(held) == 0


async def test_the_data_agent_takes_stf_gen_while_rows_commit_and_publishes_stf_ready_after_each_row_in_order(
    store: Store,
) -> None:
    """Many stf_gen at once: the rows share a few store transactions (the handler no longer waits
    for each commit), every stf_ready finds its row stored, and they come out in sequence order."""
    count = 60
    to = Destinations.of("pipe")
    ready: list[tuple[int, bool]] = []
    async with EmbeddedBus() as bus:
        async def on_data(delivery: Delivery) -> None:
            body = delivery.body
            try:
                await store.runs.get_stf(body["filename"])
                stored = True
            except NotFound:
                stored = False
            ready.append((body["sequence"], stored))

        await bus.subscribe(to.data, on_data)
        agent = DataAgent(AgentContext(namespace="pipe", bus=bus, store=store, agent_id="1"))
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        writer = store.db.writer
        flushes, writes = writer.flushes, writer.writes
        for sequence in range(1, count + 1):
            await bus.publish(to.daq, StfGen(
                namespace="pipe", execution_id="exec-1", run_id=100010, timestamp=datetime.now(UTC),
                simulation_tick=float(sequence), state="run", substate="physics",
                filename=f"swf.100010.{sequence:06d}.stf", sequence=sequence, size_bytes=1,
                checksum="adler32:00000001").model_dump(mode="json"))
        async with asyncio.timeout(30):
            while len(ready) < count:
                await asyncio.sleep(0.01)
        agent.stop()
        await task
    assert [sequence for sequence, _ in ready] == list(range(1, count + 1))
    assert all(stored for _, stored in ready)
    stf_writes = writer.writes - writes
    assert stf_writes >= count
    # one transaction per STF when the handler awaited each write; now they share transactions
    assert writer.flushes - flushes <= count // 3, (writer.flushes - flushes, stf_writes)
