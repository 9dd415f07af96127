"""Child process of the crash test: appends records forever, printing after every flush.

Usage: python crash_child.py DB_DIR FLUSH_INTERVAL
Each record carries its index and the wall time it was appended.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter


async def main(directory: Path, interval: float) -> None:
    store = ProvStore(engine_for(state_dir=directory))
    await store.create_schema()
    writer = ProvWriter(store, flush_interval=interval)
    await writer.start()
    i, seen = 0, 0
    while True:
        for _ in range(50):
            writer.append("burst", "note", {"elements": [], "relations": [], "event": f"{i} {time.time():.6f}"})
            i += 1
        if writer.flushed != seen:
            seen = writer.flushed
            print(f"flushed {seen}", flush=True)
        await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2])))
