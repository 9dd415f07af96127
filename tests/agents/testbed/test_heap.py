"""A running in-process testbed keeps its start-up heap out of full collections, and a stopped one
leaves nothing frozen behind (agents/testbed/manager/heap.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from agents.testbed.testbed import TestbedManager


async def test_the_heap_is_frozen_while_a_testbed_runs_and_a_stopped_one_is_freed(manager: TestbedManager) -> None:
    gc.unfreeze()
    await manager.start_testbed("heap")
    assert gc.get_freeze_count() > 0  # what the start built is out of the collector's walk
    supervisor = weakref.ref(manager.state.testbeds["heap"].supervisor)
    await manager.stop_testbed("heap")
    assert gc.get_freeze_count() == 0  # no testbed runs: nothing stays frozen
    await asyncio.sleep(0.2)  # the stopped agents' last tasks end
    gc.collect()
    # frozen objects in reference cycles are never freed: the stop unfroze them
    assert supervisor() is None


async def test_the_collector_runs_less_often_while_a_testbed_runs_and_as_before_after(manager: TestbedManager) -> None:
    before = gc.get_threshold()
    await manager.start_testbed("gc-a")
    await manager.start_testbed("gc-b")
    running = gc.get_threshold()
    assert running[0] >= 50 * before[0]  # a slice's short-lived objects are not walked every 700 allocations
    await manager.stop_testbed("gc-a")
    assert gc.get_threshold() == running  # gc-b still runs
    await manager.stop_testbed("gc-b")
    assert gc.get_threshold() == before  # nothing runs: the process collects as it did
