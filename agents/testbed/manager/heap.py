"""The process heap around a running testbed: full collections skip what a testbed start built.

An in-process testbed runs every agent on the node's event loop, and a run allocates a few short
lived objects per slice. Python's cyclic collector then runs a full (generation 2) collection
now and then, and a full collection walks every object of the process: with the store, SQLAlchemy,
pydantic and the agents loaded, ~0.1 s of CPU each. Measured on the in-process bench (400 STFs x
15 slices): two full and 27 middle collections took 49 us of CPU per resolved slice, a quarter
of the run's CPU.

So once a testbed is up, :func:`settle` collects and then freezes the heap (``gc.freeze``: the
objects alive now move to a permanent generation that collections do not walk), as
``controlroom up`` and ``gateway serve`` do after their start-up. Frozen objects that later become
garbage in a reference cycle are not freed while frozen, so when a testbed stops :func:`release`
unfreezes: the stopped agents' cycles are collected as usual (some of their tasks finish a few
loop turns after the stop, so collecting and freezing at once would freeze them again). While
other in-process testbeds still run, the heap is settled again a few seconds later.
"""

from __future__ import annotations

import asyncio
import gc

SETTLE_AFTER_S = 5.0
"""After a stop, when to freeze again the heap of the testbeds that still run."""


def settle() -> None:
    """Collect, then freeze what is alive (after a testbed started)."""
    gc.collect()
    gc.freeze()


def release(*, others_running: bool) -> None:
    """Unfreeze (after a testbed stopped); settle again later if other testbeds still run."""
    gc.unfreeze()
    if others_running:
        asyncio.get_running_loop().call_later(SETTLE_AFTER_S, settle)
