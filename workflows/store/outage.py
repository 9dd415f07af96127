"""Riding out a database outage: retry a store call while the database is unavailable.

A write that meets :class:`~workflows.store.errors.StoreUnavailable` (connection refused or
closed, the server shutting down or restarting) is tried again with exponential backoff
(0.1 s doubling to 2 s) until it succeeds or the outage bound has passed; then the last
``StoreUnavailable`` is raised, naming how long the database was away. Other store errors are
raised at once. The bound is ``bound_s`` when given, else ``CONTROLROOM_STORE_OUTAGE_S``
(seconds, default 60).

Only calls that are safe to repeat belong here: a write whose COMMIT was sent but never
answered may have been applied, so the retry gives at-least-once, never exactly-once.

Example::

    record = await retry_unavailable(lambda: store.executions.set_status(eid, "failed", error=why),
                                     what=f"close {eid}", log=log)
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from workflows.store.errors import StoreUnavailable

T = TypeVar("T")

OUTAGE_ENV = "CONTROLROOM_STORE_OUTAGE_S"
DEFAULT_OUTAGE_S = 60.0
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 2.0


def outage_bound_s() -> float:
    """How long a write waits for the database: ``CONTROLROOM_STORE_OUTAGE_S`` or 60 s."""
    raw = os.environ.get(OUTAGE_ENV)
    if not raw:
        return DEFAULT_OUTAGE_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{OUTAGE_ENV}={raw!r}: must be a number of seconds, e.g. 60") from None
    if value < 0:
        raise ValueError(f"{OUTAGE_ENV}={raw!r}: must be >= 0 (0 = no retry)")
    return value


async def retry_unavailable(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    bound_s: float | None = None,
    log: logging.Logger | None = None,
) -> T:
    """``await call()``, again while it raises StoreUnavailable, until ``bound_s`` has passed.

    ``what`` names the write in the log lines and in the final error (``database unavailable
    for 61 s (what): ...``). One WARNING when the outage is first met, one INFO when it ends.
    """
    bound = outage_bound_s() if bound_s is None else bound_s
    started: float | None = None
    delay = FIRST_DELAY_S
    while True:
        try:
            result = await call()
        except StoreUnavailable as exc:
            now = time.monotonic()
            if started is None:
                started = now
                if bound > 0 and log is not None:
                    log.warning("%s: the database is unavailable (%s); retrying for up to %.0f s", what, exc, bound)
            waited = now - started
            if waited + delay > bound:
                raise StoreUnavailable(f"database unavailable for {waited:.0f} s ({what}): {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
            continue
        if started is not None and log is not None:
            log.info("%s: the database answered again after %.1f s", what, time.monotonic() - started)
        return result
