"""Agent logs into the store without a write per record.

:class:`LogBuffer` is a ``logging.Handler`` whose ``emit`` only appends to an in-memory deque
(thread-safe, never blocks, never does I/O). :class:`LogFlusher` is a background task that
moves the buffered records to ``store.logs.add_logs`` in batches, every ``interval_s`` or
sooner when ``batch_size`` records wait. A failed write keeps the batch for the next try;
only when the buffer overflows ``capacity`` are the oldest records dropped, and the drop is
counted and reported as a log line of its own.

Example::

    buffer = LogBuffer(namespace="ns1", agent="data-agent-ns1-1")
    logging.getLogger("controlroom.agent.data-agent-ns1-1").addHandler(buffer)
    async with LogFlusher(buffer, store):
        ...   # log freely; records reach app_logs in batches
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from workflows.store.records import LogIn

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "execution_id"}


class LogBuffer(logging.Handler):
    """A handler that only appends records to memory, for :class:`LogFlusher` to write.

    A record's ``execution_id`` comes from ``extra={"execution_id": ...}``; other extras
    (JSON-safe values) are kept in ``extra``.
    """

    def __init__(self, *, namespace: str, agent: str, capacity: int = 50_000, level: int = logging.INFO) -> None:
        super().__init__(level=level)
        self.namespace = namespace
        self.agent = agent
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.capacity = capacity
        self.records: deque[LogIn] = deque()
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            extra = {
                key: value
                for key, value in record.__dict__.items()
                if key not in _RESERVED and isinstance(value, str | int | float | bool | None)
            }
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            self.records.append(
                LogIn.model_construct(
                    namespace=self.namespace,
                    agent=self.agent,
                    instance=self.instance,
                    execution_id=getattr(record, "execution_id", None),
                    level=record.levelno,
                    levelname=record.levelname,
                    message=message,
                    created_at=datetime.fromtimestamp(record.created, UTC),
                    extra=extra or None,
                )
            )
            if len(self.records) > self.capacity:
                self.records.popleft()
                self.dropped += 1
        except Exception:  # noqa: BLE001 - a log handler must never raise into the caller
            self.handleError(record)

    def take(self, limit: int) -> list[LogIn]:
        """Remove and return up to ``limit`` of the oldest records."""
        batch: list[LogIn] = []
        records = self.records
        while records and len(batch) < limit:
            batch.append(records.popleft())
        return batch

    def give_back(self, batch: list[LogIn]) -> None:
        """Put a batch that could not be written back at the front, oldest first."""
        self.records.extendleft(reversed(batch))


class LogFlusher:
    """Background task writing a :class:`LogBuffer` to ``store.logs.add_logs`` in batches."""

    def __init__(self, buffer: LogBuffer, store: Any, *, interval_s: float = 0.5, batch_size: int = 500) -> None:
        self.buffer = buffer
        self.store = store
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.written = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name=f"logflush-{self.buffer.agent}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the task and write what is left (one last try)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> int:
        """Write everything buffered now; returns how many records were written."""
        total = 0
        if self.buffer.dropped:
            dropped, self.buffer.dropped = self.buffer.dropped, 0
            self.buffer.records.append(
                LogIn(
                    namespace=self.buffer.namespace,
                    agent=self.buffer.agent,
                    instance=self.buffer.instance,
                    level=logging.WARNING,
                    message=f"log buffer overflowed: {dropped} older records were dropped",
                )
            )
        while self.buffer.records:
            batch = self.buffer.take(self.batch_size)
            try:
                await self.store.logs.add_logs(batch)
            except BaseException:
                self.buffer.give_back(batch)
                raise
            total += len(batch)
        self.written += total
        return total

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the store may be away; keep the records and retry
                await asyncio.sleep(self.interval_s)
