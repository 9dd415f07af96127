"""Chaos suite reliability: no broker means the process-mode classes are skipped (with the reason)
while the embedded ones run; the freeze of stuck_execution never leaves the SQLite database locked."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agents.ai.evaluation.chaos import freeze
from agents.ai.evaluation.chaos.cli import suite


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_suite_without_a_broker_runs_embedded_classes_and_skips_process_mode(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()  # nothing listens there
    code = suite(work_dir=tmp_path, stomp=f"127.0.0.1:{port}", extended=False,
                 kinds="invalid_parameter,stuck_execution,broker_unreachable")
    out = capsys.readouterr().out
    assert "Traceback" not in out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "invalid_parameter (rules)" in rows["invalid_parameter"]
    for kind in ("stuck_execution", "broker_unreachable"):
        assert f"skipped: no STOMP broker at 127.0.0.1:{port}" in rows[kind]
    assert code == 0


WRITER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
print("ready", flush=True)
while True:  # holds the write lock nearly all the time, like a busy agent
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO t VALUES (1)")
    time.sleep(0.05)
    db.execute("COMMIT")
    time.sleep(0.01)  # a short gap between transactions (SQLite's busy handler polls, it does not queue)
"""


async def test_freeze_never_holds_the_sqlite_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for _ in range(5):
            await freeze(child.pid, f"sqlite+aiosqlite:///{path}")
            probe = sqlite3.connect(path, timeout=0, isolation_level=None)  # no wait at all
            try:
                probe.execute("BEGIN IMMEDIATE")  # "database is locked" if the frozen child held the lock
                probe.execute("ROLLBACK")
            finally:
                probe.close()
            os.kill(child.pid, signal.SIGCONT)
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.wait()
