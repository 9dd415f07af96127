"""How many slice results the fast processing agent received for an execution, from the store.

The agent accepts ONE result per slice and attempt and counts the rest as duplicates; when the
run has drained it logs ``execution X drained: D slices done, F failed, R retried, U duplicate
results`` (agents/testbed/fastproc.py), and agent logs go to the store. Every result it received
is exactly one of those four, so ``received = done + failed + retried + duplicates``. A test that
claims "nothing counted twice" asserts on these, not on distinct (tf_filename, slice_id) pairs
(which the store's key makes distinct whatever happened).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from workflows.store.store import Store

DRAINED = re.compile(r"drained: (\d+) slices done, (\d+) failed, (\d+) retried, (\d+) duplicate results")


@dataclass(frozen=True)
class SliceResults:
    done: int
    failed: int
    retried: int
    duplicates: int

    @property
    def received(self) -> int:
        return self.done + self.failed + self.retried + self.duplicates


async def slice_results(store: Store, execution_id: str, timeout_s: float = 30.0) -> SliceResults:
    """The counts of the execution's drained line; waits for the log sink to write it (bounded)."""
    async with asyncio.timeout(timeout_s):
        while True:
            lines = await store.logs.list_logs(execution_id=execution_id, search="drained:", limit=10)
            found = [m for line in lines.items if (m := DRAINED.search(line.message))]
            if found:
                break
            await asyncio.sleep(0.1)
    assert len(found) == 1, f"one drained line per execution, got {[line.message for line in lines.items]}"
    return SliceResults(*(int(g) for g in found[0].groups()))
