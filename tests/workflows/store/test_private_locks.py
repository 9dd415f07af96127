"""Making a SQLite file private must not drop the locks this process's SQLite connections hold on
it: closing any descriptor of a file releases every POSIX lock the process has on that file, so
``private_sqlite`` on an open database let another process take itself for the last connection
and remove the WAL from under this one (CI: "disk I/O error" on the next read)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from workflows.store.private import private_sqlite

SHARED_FIRST = 0x40000000 + 2  # SQLite's shared-lock byte range in the database file (os_unix.c)
SHARED_SIZE = 510

PROBE = f"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, {SHARED_SIZE}, {SHARED_FIRST})
    print("free")
except OSError:
    print("held")
"""


def someone_holds_a_shared_lock(path: Path) -> bool:
    """Whether any process holds a SQLite SHARED lock on ``path`` (asked from another process)."""
    answer = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True,
                            timeout=30, check=True)
    return answer.stdout.strip() == "held"


def test_making_an_open_database_private_keeps_its_locks(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.execute("BEGIN")
        conn.execute("SELECT * FROM t").fetchall()  # a read transaction: SQLite holds its shared lock
        assert someone_holds_a_shared_lock(path)  # the probe can see it (so the check below can fail)
        private_sqlite(f"sqlite+aiosqlite:///{path}")
        assert someone_holds_a_shared_lock(path)
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        conn.close()


def test_a_new_database_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "node.db"
    private_sqlite(f"sqlite+aiosqlite:///{path}")
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
