"""Private state on disk: directories 0700, databases, keys and tokens 0600, whatever the umask.

Used by every component that keeps state (gateway, node, `controlroom up`, the workflow store);
`prov_agent.store` keeps its own three lines (that package depends on nothing of ours).

SQLite gives the files it creates beside a database (``-wal``, ``-shm``, ``-journal``) the
database file's own mode, so creating the database file 0600 before SQLite opens it makes
them 0600 too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["private_dir", "private_sqlite", "write_private"]

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create ``path`` 0700; an existing one of ours is tightened to 0700 (never a shared, sticky one)."""
    path = Path(path).expanduser()
    if not path.exists():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & 0o077:
        if info.st_uid == os.getuid() and not info.st_mode & stat.S_ISVTX:
            path.chmod(DIR_MODE)
        else:
            log.warning("state directory %s is readable by others and not ours to tighten; its files are "
                        "0600, but prefer a directory of your own", path)
    return path


def _private_file(path: Path) -> None:
    """Create ``path`` 0600 if it does not exist (0600 & ~umask: never wider), then make it 0600.

    An existing file is never opened: closing any descriptor of a file drops every POSIX lock
    this process holds on it, and a SQLite database open in this process (another replica, the
    provenance store) holds its locks so; without them a writer in another process took itself
    for the last connection, removed the WAL under this one, and its next read failed with
    "disk I/O error" (a CI run of test_tokens.py).
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, FILE_MODE))
    path.chmod(FILE_MODE)  # an existing file from an older install


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (no window at the umask's mode),
    atomically: a reader sees the old content or the whole new one, never an empty or half file
    (``controlroom up`` writes ``connection.json`` while clients may be polling for it)."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    _private_file(partial)
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def private_sqlite(url: str) -> None:
    """For a SQLite file URL: create its directory 0700 if missing, the database file (and any
    side files already there) 0600. Other URLs and in-memory databases are left alone."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    if not path.parent.exists():
        private_dir(path.parent)
    _private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.chmod(FILE_MODE)
