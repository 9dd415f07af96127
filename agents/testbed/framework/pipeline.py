"""Write, then publish, in order, without waiting on each write: an agent's ordered pipeline.

The data, fastmon, processing and fast processing agents each store a row for a message and
then publish downstream (``stf_ready`` after ``add_stf``, a sample's slices after
``add_slices``). Awaiting the write inside the handler made an agent take one message per store
round trip, and each group-commit flush held only one write per stage. With a pipeline the
handler starts the write and returns at once; the write joins the writes the store is about to
commit, and a single task publishes, in the order the messages arrived, each message's
follow-up once ITS write has returned. So:

* a row is durable before what depends on it is published (the follow-up runs only after the
  write's ``await`` returned, i.e. committed);
* publications keep the order of the messages that caused them;
* a write that raises (e.g. ``StoreUnavailable`` past the outage bound) or is cancelled on its
  own skips its follow-up and is logged, as the handler raising did before; the next entries go
  on (only cancelling the pipeline's task, in :meth:`close`, stops it);
* at most ``depth`` entries are in flight: a handler submitting beyond that waits (back pressure);
* :meth:`drain` waits until everything submitted so far is published (end of run checks, stop).

Example::

    pipeline = Pipeline(log, depth=256)
    await pipeline.submit(lambda: store.runs.add_stf(...), lambda _row: bus.publish(to.data, ready))
    await pipeline.drain()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

DEPTH = 256
"""Entries in flight at most per agent (each holds a task and a message)."""


class Pipeline:
    """An ordered write-then-publish pipeline (see the module docstring).

    ``hold``/``release`` are called when an entry enters and leaves the pipeline (the agent's
    busy count, so the agent shows PROCESSING while it has work in flight).
    """

    def __init__(self, log: logging.Logger, *, depth: int = DEPTH, hold: Callable[[], None] | None = None,
                 release: Callable[[], None] | None = None) -> None:
        self._log = log
        self._slots = asyncio.Semaphore(depth)
        self._entries: deque[tuple[asyncio.Future[Any], Callable[[Any], Awaitable[None]], str]] = deque()
        self._wake: asyncio.Event = asyncio.Event()
        self._idle: asyncio.Event = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._hold = hold or (lambda: None)
        self._release = release or (lambda: None)

    def __len__(self) -> int:
        return len(self._entries)

    async def submit(self, write: Callable[[], Awaitable[Any]], then: Callable[[Any], Awaitable[None]],
                     what: str = "write") -> None:
        """Start ``write()`` now; call ``then(result)`` once it returned and every earlier entry's
        ``then`` ran. Waits only while ``depth`` entries are in flight."""
        await self._slots.acquire()
        future = asyncio.ensure_future(write())
        self._entries.append((future, then, what))
        self._hold()
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="agent-pipeline")

    async def drain(self) -> None:
        """Wait until every entry submitted so far has been published (or has failed)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Drain, then stop the publishing task. Cancelled (a forced stop), the writes still in
        flight are cancelled with it."""
        try:
            await self.drain()
        finally:
            task = self._task
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            while self._entries:
                future, _then, _what = self._entries.popleft()
                future.cancel()
                self._release()

    async def _run(self) -> None:
        entries = self._entries
        while True:
            if not entries:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            future, then, what = entries[0]
            try:
                result = await future
                await then(result)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the pipeline itself is being stopped (close)
                # the write alone was cancelled: like a failed write, the entries behind it go on
                self._log.error("%s failed: cancelled; its message is not passed on", what)
            except Exception as exc:  # noqa: BLE001 - reported; the entries behind it go on
                self._log.error("%s failed: %s: %s; its message is not passed on", what, type(exc).__name__, exc)
            finally:
                if entries and entries[0][0] is future:
                    entries.popleft()
                    self._slots.release()
                    self._release()
