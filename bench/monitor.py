"""Web monitor: server time per page on a 1,000,000-row store, and live event latency, in Chromium.

Issue 14's goals: each page renders in <= 100 ms server time with 1,000,000 log rows; an event
reaches an open execution page <= 1 s after it is stored.

    .venv/bin/python bench/monitor.py [--rows 1000000] [--loads 20]

Two `controlroom up` runs (tests/support/up.py), one after the other: a baseline whose node store
holds one execution and no logs, then one whose store holds ``--rows`` logs and 100,000 messages
(bench/node_queries.py's fill, cached in the temp dir and copied into a throwaway state dir). On
each, a headless Chromium (Selenium, the tests' flags) signs in with the admin token and loads
every page ``--loads`` times; the server time is the ``Server-Timing: app;dur=`` the monitor adds
(request in → headers out, the page rendered by then), read in the browser from the navigation
entry. Then a real-time workflow starts on the testbed and its execution page is opened: a
MutationObserver stamps each new DAQ state-event row with ``performance.timeOrigin +
performance.now()`` (the browser's wall clock), compared with the event's stored timestamp
(``data-at``, the node's wall clock). Both clocks are this machine's system clock; the browser's
origin is read once per page load, so drift is below a millisecond over a run.

Last line: ``monitor page_p50_ms=... page_max_ms=... event_latency_p50_ms=... event_latency_max_ms=...``
(1M store; page_max_ms is the slowest page's p50: a single load can include a GC pause).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastmcp import Client  # noqa: E402

from bench.node_queries import fill  # noqa: E402
from tests.mcp_gateway.monitor.conftest import CHROMIUM_FLAGS  # noqa: E402
from tests.support.up import start_up, stop_up  # noqa: E402
from workflows.store.paging import decode_cursor, encode_cursor  # noqa: E402

MESSAGES = 100_000
GOAL_PAGE_MS = 100
GOAL_EVENT_MS = 1000
DAQ = {  # a real-time run whose DAQ state changes about once a second: many events while the page is open
    "no_beam_not_ready_delay": 1, "broadcast_delay": 0, "beam_not_ready_delay": 1, "beam_ready_delay": 1,
    "stf_interval": 1.0, "stf_generation_time": 0.05, "beam_not_ready_end_delay": 1, "stf_count": 8,
    "slice_processing_time": 0.2,
}
OBSERVE = """
window.__seen = {};
const mark = () => { const t = performance.timeOrigin + performance.now();
  for (const row of document.querySelectorAll('#events tr[data-event]')) {
    if (!(row.dataset.event in window.__seen)) window.__seen[row.dataset.event] = [row.dataset.at, t]; } };
for (const row of document.querySelectorAll('#events tr[data-event]')) window.__seen[row.dataset.event] = null;
new MutationObserver(mark).observe(document.getElementById('execution'), {childList: true, subtree: true});
"""


async def cached_store(rows: int) -> tuple[Path, str]:
    """The node store with ``rows`` logs (filled once, like bench/node_queries.py, same cache)."""
    messages = MESSAGES if rows else 0
    cache = Path(tempfile.gettempdir()) / f"controlroom-bench-node-{rows}-{messages}"
    if not (cache / "ready").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        started = time.perf_counter()
        execution_id = await fill(cache / "node.db", rows, messages)
        (cache / "ready").write_text(execution_id)
        print(f"filled {rows} logs + {messages} messages in {time.perf_counter() - started:.1f} s")
    return cache / "node.db", (cache / "ready").read_text()


def chromium(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        raise SystemExit("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.set_page_load_timeout(60)
    return chrome


def sign_in(driver: Any, ui: str, token: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(ui)
    WebDriverWait(driver, 60).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#token"))).send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#signin").click()
    WebDriverWait(driver, 60).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#who")))


def server_ms(driver: Any, url: str) -> float:
    """Load ``url``; the monitor's Server-Timing ``app`` duration of that navigation."""
    driver.get(url)
    timing = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return [n.responseStatus, n.serverTiming.map(t => [t.name, t.duration])];")
    status, entries = timing
    if status != 200:
        raise SystemExit(f"{url} answered {status}")
    found = [duration for name, duration in entries if name == "app"]
    if not found:
        raise SystemExit(f"{url}: no Server-Timing app entry (is the monitor's ServerTiming middleware there?)")
    return float(found[0])


def last_page_cursor(db: Path, sample: str | None) -> str | None:
    """A ``list_logs`` cursor positioned just after the 51st-oldest row: the last page of 50."""
    if sample is None:
        return None
    like, _ = decode_cursor("logs", sample, 2)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT created_at, id FROM app_logs ORDER BY created_at, id LIMIT 1 OFFSET 50").fetchone()
    if row is None:
        return None
    moment = datetime.fromisoformat(str(row[0]))
    moment = moment.replace(tzinfo=like.tzinfo) if isinstance(like, datetime) else moment  # as the store writes it
    return encode_cursor("logs", [moment, row[1]])


async def tool(url: str, token: str, name: str, **arguments: Any) -> dict[str, Any]:
    async with Client(url, auth=token, timeout=120) as client:
        return (await client.call_tool(name, arguments)).structured_content or {}


def pages(execution_id: str, last_cursor: str | None) -> dict[str, str]:
    logs = "logs?" + urlencode({"limit": 50})
    return {
        "overview": "",
        "execution": f"executions/{execution_id}",
        "characterization": f"executions/{execution_id}/stats",
        "logs": logs,
        "logs text (common)": f"{logs}&search=slice+processed",
        "logs text (rare)": f"{logs}&search=line+424242+slice",
        "logs by agent": f"{logs}&agent=worker-agent-bench-3",
        "logs last page": f"{logs}&cursor={last_cursor}" if last_cursor else logs,
        "debugging": "debugging",
        "lineage": f"lineage?entity={quote('controlroom:execution/' + execution_id)}",
    }


def event_latency(driver: Any, ui: str, url: str, token: str, runs: int = 3) -> list[float]:
    """Start ``runs`` real-time workflows one after the other, open each one's page, and time each
    new state event into the DOM (ms)."""
    from selenium.webdriver.support.ui import WebDriverWait

    asyncio.run(tool(url, token, "start_testbed", namespace="bench"))
    try:
        seen: dict[str, Any] = {}
        for _ in range(runs):
            started = asyncio.run(tool(url, token, "start_workflow", namespace="bench", realtime=True, parameters=DAQ))
            driver.get(f"{ui}executions/{started['execution_id']}")
            driver.execute_script(OBSERVE)
            WebDriverWait(driver, 120, poll_frequency=1).until(lambda d: d.execute_script(
                "const s = document.getElementById('status'); return s && s.textContent.trim();")
                in ("completed", "failed", "terminated"))
            seen.update(driver.execute_script("return window.__seen;"))
    finally:
        asyncio.run(tool(url, token, "stop_testbed", namespace="bench"))
    latencies = []
    for value in seen.values():
        if value is None:  # on the page before the observer: not timed
            continue
        at, shown_ms = value
        stored = datetime.fromisoformat(at)
        stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        latencies.append(shown_ms - stored.timestamp() * 1000)
    return latencies


def measure(label: str, rows: int, loads: int, work: Path) -> tuple[dict[str, list[float]], list[float]]:
    db, execution_id = asyncio.run(cached_store(rows))
    state = work / label
    state.mkdir()
    shutil.copy(db, state / "node.db")
    process, details = start_up(state)
    driver = None
    try:
        url, token = details["url"], details["token"]
        ui = url.removesuffix("/mcp") + "/ui/"
        sample = asyncio.run(tool(url, token, "list_logs", namespace="bench", limit=1)).get("next_cursor")
        driver = chromium(work / f"{label}-profile")
        sign_in(driver, ui, token)
        timings: dict[str, list[float]] = {}
        for name, path in pages(execution_id, last_page_cursor(state / "node.db", sample)).items():
            server_ms(driver, ui + path)  # warm: the first load of a page fills caches
            timings[name] = [server_ms(driver, ui + path) for _ in range(loads)]
            if 'class="problem"' in driver.page_source:
                print(f"note: {label} {name} shows a problem: {driver.find_element('css selector', '.problem').text[:200]}")
        latencies = event_latency(driver, ui, url, token)
        return timings, latencies
    finally:
        if driver is not None:
            driver.quit()
        stop_up(process)


def main(rows: int, loads: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="controlroom-bench-monitor-"))
    try:
        base, base_events = measure("baseline", 0, loads, work)
        big, big_events = measure("big", rows, loads, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nserver time per page (Server-Timing app, ms; {loads} loads each after one warm-up; "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"{'page':22s} {'empty p50':>10s} {f'{rows:,} p50':>14s} {'p90':>8s} {'max':>8s} {'ratio':>6s}  goal {GOAL_PAGE_MS} ms")
    for name, figures in big.items():
        p50, p50_base = statistics.median(figures), statistics.median(base[name])
        ordered = sorted(figures)
        print(f"{name:22s} {p50_base:10.1f} {p50:14.1f} {ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]:8.1f} "
              f"{ordered[-1]:8.1f} {p50 / p50_base:6.1f}  {'ok' if p50 <= GOAL_PAGE_MS else 'MISSES'}")
    for label, events in (("empty", base_events), (f"{rows:,}", big_events)):
        if events:
            print(f"event -> DOM latency ({label} store): {len(events)} state events, p50 {statistics.median(events):.0f} ms, "
                  f"max {max(events):.0f} ms (goal {GOAL_EVENT_MS} ms)")
        else:
            print(f"event -> DOM latency ({label} store): no state event appeared after the page opened")
    p50s = [statistics.median(f) for f in big.values()]
    print(json.dumps({name: round(statistics.median(f), 2) for name, f in big.items()}))
    print(f"monitor page_p50_ms={statistics.median(p50s):.1f} page_max_ms={max(p50s):.1f} "
          f"event_latency_p50_ms={statistics.median(big_events) if big_events else float('nan'):.0f} "
          f"event_latency_max_ms={max(big_events) if big_events else float('nan'):.0f} "
          f"rows={rows} load_avg={os.getloadavg()[0]:.1f} goal_page_ms={GOAL_PAGE_MS} goal_event_ms={GOAL_EVENT_MS}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=20)
    options = parser.parse_args()
    main(options.rows, options.loads)
