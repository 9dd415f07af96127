"""Private files: 0600 and written whole (a reader polling for connection.json never reads it half-written)."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

from workflows.store.private import write_private


def test_a_reader_never_sees_an_empty_or_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "connection.json"
    bodies = [json.dumps({"url": "http://127.0.0.1:1/mcp", "token": "crt_" + str(i) * 20000}) for i in range(10)]
    write_private(path, bodies[0])
    stop = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(400):
            write_private(path, bodies[i % len(bodies)])
    finally:
        stop.set()
        reader.join()
    torn = [len(text) for text in seen if text not in bodies]
    assert len(seen) > 10 and not torn, f"{len(torn)} of {len(seen)} reads saw a partial file (sizes {torn[:5]})"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["connection.json"]  # no partial file left behind
