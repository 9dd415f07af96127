"""Freeze a process (SIGSTOP) at a moment it holds no SQLite write lock: the stuck_execution class."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from agents.ai.evaluation.chaos.errors import ChaosError

LOCK_POLL_S = 0.001
"""Pause between two tries of the write lock in :func:`freeze`: SQLite's busy handler backs off to
100 ms between tries and so loses every gap of a busy writer; a 1 ms poll lands in them."""

async def freeze(pid: int, database_url: str, timeout_s: float = 30.0) -> None:
    """SIGSTOP ``pid`` at a moment it holds no SQLite write lock: a frozen process is stuck, it must
    not also lock every other writer of the database out ("database is locked" after the busy
    timeout, as the stuck_execution class did in CI when the freeze hit a write transaction).

    The write lock is taken here first (``BEGIN IMMEDIATE``, tried every :data:`LOCK_POLL_S` until
    ``timeout_s``), the process is stopped while we hold it and the lock is released only once the
    kernel reports the process stopped (``/proc/PID/stat`` state ``T``): SQLite's write lock is
    exclusive (in WAL mode too: one writer at a time, readers never hold it), so a process stopped
    while another connection holds it cannot be inside a write transaction, and it cannot take
    the lock between our release and its stop. What it may hold while frozen is a read snapshot
    (WAL mode: other writers go on, the WAL grows until it is resumed). On PostgreSQL the process
    is frozen at once (row locks are per row, not per database).

    (Freezing first and then probing the lock failed under load: a writer that holds the lock
    most of the time was nearly always stopped inside its transaction, and the freeze gave up
    after ``timeout_s``.)
    """
    path = database_url.split(":///", 1)[1].split("?", 1)[0] if database_url.startswith("sqlite") else ""
    if not path or path == ":memory:":
        os.kill(pid, signal.SIGSTOP)
        return

    def locked_freeze() -> None:
        import sqlite3

        deadline = time.monotonic() + timeout_s
        try:
            connection = sqlite3.connect(path, timeout=0, isolation_level=None)  # no busy handler: our own poll
        except sqlite3.Error as exc:
            raise ChaosError(f"could not freeze pid {pid}: {path}: {exc}") from None
        try:
            while True:
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # not a lock: no use waiting
                        raise ChaosError(f"could not freeze pid {pid}: {path}: {exc}") from None
                    if time.monotonic() > deadline:
                        raise ChaosError(f"could not freeze pid {pid}: the write lock of {path} stayed taken "
                                         f"for {timeout_s:g} s ({exc})") from None
                    time.sleep(LOCK_POLL_S)
            try:
                os.kill(pid, signal.SIGSTOP)
                _wait_stopped(pid, time.monotonic() + 5.0)  # a bound, not a pause: it stops within ms
            finally:
                connection.execute("ROLLBACK")
        finally:
            connection.close()

    await asyncio.to_thread(locked_freeze)


def _wait_stopped(pid: int, deadline: float) -> None:
    """Wait until the kernel reports ``pid`` stopped (a SIGSTOP is delivered asynchronously)."""
    stat = Path(f"/proc/{pid}/stat")
    while True:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return  # no /proc (not Linux) or the process is gone: nothing more to wait for
        if state in ("T", "t", "Z", "X"):
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGCONT)
            raise ChaosError(f"pid {pid} did not stop after SIGSTOP (state {state}); resumed")
        time.sleep(LOCK_POLL_S)
