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

While a testbed runs, the collector also runs less often: the young generation is collected after
``RUN_THRESHOLDS[0]`` new container objects instead of Python's 700. The objects a slice makes
(messages, deliveries, futures, rows) die by reference counting, almost none in cycles, yet each
young collection walked the survivors and promoted the ones still in flight (queued slices,
pending results) to the older generations, which the middle and full collections then walked
again. Measured on the bench (1,000 STFs x 15 slices, this process): 736 young, 66 middle and 6
full collections took 227-421 ms, 12-19 % of the run's CPU, and found ~4,000 objects in cycles;
with 50,000 the same run made 2 young collections and took 121 us of CPU per slice instead of
130-139. What cyclic garbage a run makes (a few objects per thousand) waits a little longer;
the thresholds in force before are put back when the last in-process testbed stops.
"""

from __future__ import annotations

import asyncio
import gc

SETTLE_AFTER_S = 5.0
"""After a stop, when to freeze again the heap of the testbeds that still run."""
RUN_THRESHOLDS = (50_000, 20, 10)
"""``gc.set_threshold`` while an in-process testbed runs (see the module docstring)."""

_before: tuple[int, int, int] | None = None
"""The thresholds in force before the first running testbed raised them."""


def settle() -> None:
    """Collect, then freeze what is alive, and collect less often (after a testbed started)."""
    global _before
    gc.collect()
    gc.freeze()
    if _before is None:
        _before = gc.get_threshold()
        gc.set_threshold(*RUN_THRESHOLDS)


def release(*, others_running: bool) -> None:
    """Unfreeze (after a testbed stopped); settle again later if other testbeds still run, else
    put back the collector's thresholds."""
    global _before
    gc.unfreeze()
    if others_running:
        asyncio.get_running_loop().call_later(SETTLE_AFTER_S, settle)
    elif _before is not None:
        gc.set_threshold(*_before)
        _before = None
