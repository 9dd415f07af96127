"""Bench: list_logs and get_execution on a SQLite store with 1,000,000 logs and 100,000 messages.

Run: .venv/bin/python bench/store_logs.py [--refill]
The filled database is cached under the temp directory, so re-runs skip the fill. Last line:
``store_logs list_logs_p50_ms=... get_execution_p50_ms=... goal_ms=5`` where list_logs_p50_ms is
the slowest p50 among the query shapes (no filter, by agent, by min_level, by execution).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from workflows.store import LogIn, MessageIn, Store
from workflows.store.database import default_url

LOGS = 1_000_000
MESSAGES = 100_000
BATCH = 20_000
PAGES = 200
CACHE = Path(tempfile.gettempdir()) / "controlroom-bench" / f"store_logs-{LOGS}-v1"
NAMESPACES = [f"user{i}" for i in range(5)]
AGENTS = [f"{kind}-agent-{ns}-1" for ns in NAMESPACES for kind in ("data", "processing", "fastmon", "fastproc")]
LEVELS = [10] * 10 + [20] * 70 + [30] * 14 + [40] * 5 + [50]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def fill(store: Store) -> list[str]:
    rng = random.Random(7)
    executions = []
    for i in range(50):
        ns = NAMESPACES[i % len(NAMESPACES)]
        record = await store.executions.create("stf_datataking", ns, ns, {"i": i}, "h", "bench", {}, False)
        executions.append(record.execution_id)
    started = time.perf_counter()
    span = timedelta(days=7) / LOGS
    for base in range(0, LOGS, BATCH):
        await store.logs.add_logs([
            LogIn(namespace=(agent := rng.choice(AGENTS)).split("-")[2], agent=agent, instance="1",
                  execution_id=rng.choice(executions), level=(level := rng.choice(LEVELS)),
                  levelname=LEVEL_NAMES[level], message=f"step {i} processed item {rng.randrange(10**6)}",
                  created_at=T0 + span * i)
            for i in range(base, base + BATCH)
        ])
    logs_s = time.perf_counter() - started
    started = time.perf_counter()
    span = timedelta(days=7) / MESSAGES
    for base in range(0, MESSAGES, BATCH):
        await store.events.add_messages([
            MessageIn(namespace=rng.choice(NAMESPACES), execution_id=rng.choice(executions), run_number=100010,
                      msg_type=rng.choice(["stf_gen", "stf_ready", "slice", "slice_result"]),
                      sender=rng.choice(AGENTS), destination="/topic/bench", body={"i": i},
                      created_at=T0 + span * i)
            for i in range(base, base + BATCH)
        ])
    messages_s = time.perf_counter() - started
    print(f"fill: {LOGS} logs in {logs_s:.1f} s ({LOGS / logs_s:,.0f}/s), "
          f"{MESSAGES} messages in {messages_s:.1f} s ({MESSAGES / messages_s:,.0f}/s)")
    return executions


LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


async def timed(call: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def raw_page_p50(db_file: Path) -> float:
    """The floor: one 200-row newest-first page straight from sqlite3, measured in this run."""
    import sqlite3

    conn = sqlite3.connect(db_file)
    sql = "SELECT * FROM app_logs ORDER BY created_at DESC, id DESC LIMIT 201"
    samples = []
    for _ in range(PAGES):
        started = time.perf_counter()
        conn.execute(sql).fetchall()
        samples.append((time.perf_counter() - started) * 1000)
    conn.close()
    return statistics.median(samples)


async def main(refill: bool) -> None:
    db_file = CACHE / "controlroom.db"
    if refill and CACHE.exists():
        for path in CACHE.iterdir():
            path.unlink()
    fresh = not db_file.exists()
    async with Store.from_url(default_url(CACHE)) as store:
        if fresh:
            await fill(store)
            await store.db.analyze()
        executions = [e.execution_id for e in (await store.executions.list(limit=50)).items]
        rng = random.Random(11)

        def walker(**filters: object) -> Callable[[], Awaitable[object]]:
            state: dict[str, str | None] = {"cursor": None}

            async def page() -> None:  # walk newest first, 200 rows a page, restarting at the end
                result = await store.logs.list_logs(limit=200, cursor=state["cursor"], **filters)  # type: ignore[arg-type]
                assert len(result.items) == 200 or not result.has_more
                state["cursor"] = result.next_cursor
            return page

        shapes = {
            "no_filter": walker(),
            "by_agent": walker(agent=AGENTS[3]),
            "by_min_level_warning": walker(min_level="WARNING"),
            "by_min_level_error": walker(min_level="ERROR"),
            "by_execution": walker(execution_id=executions[7]),
            "by_agent_min_level_error": walker(agent=AGENTS[3], min_level="ERROR"),
        }
        p50s = []
        for name, call in shapes.items():
            await call()  # warm
            p50, p99 = summary(await timed(call, PAGES))
            p50s.append(p50)
            print(f"list_logs {name:26s} p50={p50:6.2f} ms p99={p99:6.2f} ms")
        get_p50, get_p99 = summary(await timed(lambda: store.executions.get(rng.choice(executions)), 500))
        print(f"get_execution                        p50={get_p50:6.2f} ms p99={get_p99:6.2f} ms")
        msg_p50, msg_p99 = summary(await timed(lambda: store.events.list_messages(limit=200), PAGES))
        print(f"list_messages no_filter              p50={msg_p50:6.2f} ms p99={msg_p99:6.2f} ms")
    print(f"baseline: the same first page through the stdlib sqlite3 module, no count, no records: "
          f"p50={raw_page_p50(db_file):.2f} ms (the floor on this machine right now)")
    print(f"store_logs list_logs_p50_ms={max(p50s):.2f} get_execution_p50_ms={get_p50:.2f} goal_ms=5")


if __name__ == "__main__":
    asyncio.run(main("--refill" in sys.argv))
