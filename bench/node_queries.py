"""Node query latency over HTTP with a big store, and the node's CPU per call.

Fills a SQLite store with 1,000,000 log rows and 100,000 messages (once; the file is cached in
the temp dir, re-runs reuse it), serves the node over streamable HTTP on 127.0.0.1 in a child
process (on a throwaway copy of the store) and times ``get_workflow_execution`` and
``list_logs`` returning 200 rows. Goal: p50 <= 5 ms for both. They are timed two ways:

- through one fastmcp.Client, which validates every result against the tool's output schema
  with the pure-Python jsonschema, per field of every row;
- as raw JSON-RPC posts (httpx2, what the gateway forwards), which do not pay that; the default
  ``list_logs`` page (20 rows, what a model gets) is timed this way too.

A no-op tool on a bare FastMCP server (its own child process), timed both ways in the same run,
gives the floor of the MCP stack under the machine's current load; the same no-op tool added to
the node's own server (bearer auth, error edge, scope check, schema transform: everything a node
tool call passes through) and timed raw gives the node's floor, so ``node_noop_raw_cpu_us -
noop_raw_cpu_us`` is what the node adds per call outside the tool. Beside each wall p50 the
server's CPU per call is printed (user + system time of the child from /proc over the timed
calls, its SQLite threads included, the client excluded): on a loaded machine the wall figures
follow the load, the CPU per call follows the code.

    .venv/bin/python bench/node_queries.py [--rows 1000000] [--messages 100000] [--calls 300]

Last line: ``node_queries get_execution_p50_ms=... list_logs_p50_ms=... get_execution_raw_p50_ms=...
list_logs_raw_p50_ms=... list_logs_raw_cpu_us=... noop_raw_cpu_us=... node_noop_raw_cpu_us=... ...
goal_ms=5``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from fastmcp import Client, FastMCP

from mcp_nodes.http import serve_http
from mcp_nodes.runtime import node_runtime
from mcp_nodes.settings import NodeSettings
from mcp_nodes.tools.arguments import READ_ONLY
from workflows.store.database import Database
from workflows.store.records import LogIn, MessageIn
from workflows.store.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.procstat import cpu_seconds, load_average  # noqa: E402

TOKEN = "bench-token"
ERA = "2026-07-28"
AGENTS = [f"{kind}-agent-bench-{i}" for kind in ("data", "processing", "fastmon", "worker") for i in range(5)]


async def fill(path: Path, rows: int, messages: int) -> str:
    """Create the store file with ``rows`` logs, ``messages`` messages and one execution."""
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.open(upgrade=True)
    store = Store(database)
    execution = await store.executions.create(
        workflow_name="stf_datataking", namespace="bench", executed_by="bench", config={"a": 1},
        config_hash="0" * 64, code_version="bench", parameters={"stf_count": 10}, realtime=False)
    start = datetime.now(UTC) - timedelta(days=1)
    batch = 20_000
    for offset in range(0, rows, batch):
        await store.logs.add_logs([
            LogIn(namespace="bench", agent=AGENTS[i % len(AGENTS)], execution_id=execution.execution_id,
                  level=(10, 20, 20, 20, 30, 40)[i % 6], message=f"bench log line {i} slice processed",
                  created_at=start + timedelta(milliseconds=i))
            for i in range(offset, min(rows, offset + batch))])
    for offset in range(0, messages, batch):
        await store.events.add_messages([
            MessageIn(namespace="bench", execution_id=execution.execution_id, msg_type="stf_gen",
                      sender="daq-agent-bench-1", body={"sequence": i}, created_at=start + timedelta(milliseconds=i))
            for i in range(offset, min(messages, offset + batch))])
    await database.close()
    return execution.execution_id


async def serve(kind: str, state_dir: Path | None) -> None:
    """The child: serve the node (store in ``state_dir``) or the bare no-op server on a free port,
    print the port, and run until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if kind == "noop":
        bare = FastMCP("baseline")

        @bare.tool
        async def noop(value: int = 1) -> int:
            """Return value."""
            return value

        async with serve_http(bare.http_app(path="/mcp")) as port:
            print(port, flush=True)
            await stop.wait()
        return
    assert state_dir is not None
    settings = NodeSettings(name="bench", port=0, state_dir=state_dir, token=TOKEN)
    async with node_runtime(settings) as runtime:
        node = runtime.build()
        if kind == "node-noop":
            @node.tool(annotations=READ_ONLY)
            async def noop(value: int = 1) -> int:
                """Return value."""
                return value

        async with serve_http(node.http_app(path="/mcp")) as port:
            print(port, flush=True)
            await stop.wait()


@asynccontextmanager
async def server(kind: str, state_dir: Path | None = None) -> AsyncIterator[tuple[int, int]]:
    """``serve`` in a child process: yields (pid, port); SIGTERM at exit."""
    command = [sys.executable, __file__, "--serve", kind] + (["--state-dir", str(state_dir)] if state_dir else [])
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.to_thread(child.stdout.readline)  # type: ignore[union-attr]
        if not line.strip():
            raise SystemExit(f"the {kind} server did not start (exit code {child.wait()})")
        yield child.pid, int(line)
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(child.wait, 20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class Timing:
    """Wall times (ms) of the timed calls and the server's CPU per call (us)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.walls: list[float] = []
        self.cpu_us = 0.0

    async def run(self, calls: int, call: Any) -> Timing:
        """``call(i)`` 20 times to warm up, then ``calls`` times timed."""
        for i in range(20):
            await call(i)
        cpu = cpu_seconds(self.pid)
        for i in range(calls):
            t0 = time.perf_counter()
            await call(i)
            self.walls.append((time.perf_counter() - t0) * 1000)
        self.cpu_us = (cpu_seconds(self.pid) - cpu) / calls * 1e6
        return self

    @property
    def p50(self) -> float:
        return statistics.median(self.walls)


async def client_calls(pid: int, port: int, tool: str, args: dict[str, object], calls: int, **auth: Any) -> Timing:
    """``tools/call`` through one fastmcp.Client (client-side output-schema validation included)."""
    async with Client(f"http://127.0.0.1:{port}/mcp", **auth) as client:
        async def call(_: int) -> None:
            result = await client.call_tool(tool, args)
            if tool == "list_logs":
                assert len(result.structured_content["items"]) == args.get("limit", 20)
        return await Timing(pid).run(calls, call)


async def raw_calls(pid: int, port: int, tool: str, args: dict[str, object], calls: int) -> Timing:
    """``tools/call`` posted as plain JSON-RPC over HTTP (no client-side schema validation)."""
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": ERA, "mcp-method": "tools/call", "mcp-name": tool,
               "authorization": f"Bearer {TOKEN}"}
    meta = {"io.modelcontextprotocol/protocolVersion": ERA, "io.modelcontextprotocol/clientCapabilities": {}}
    async with httpx2.AsyncClient() as http:
        async def call(i: int) -> None:
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": tool, "arguments": args, "_meta": meta}}
            reply = await http.post(f"http://127.0.0.1:{port}/mcp", json=body, headers=headers)
            if reply.status_code != 200 or "error" in reply.json():
                raise SystemExit(f"raw {tool} failed: {reply.status_code} {reply.text[:300]}")
        return await Timing(pid).run(calls, call)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(rows: int, messages: int, calls: int) -> None:
    cache = Path(tempfile.gettempdir()) / f"controlroom-bench-node-{rows}-{messages}"
    db = cache / "node.db"
    if not (cache / "ready").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        started = time.perf_counter()
        execution_id = await fill(db, rows, messages)
        (cache / "ready").write_text(execution_id)
        print(f"filled {rows} logs + {messages} messages in {time.perf_counter() - started:.1f} s -> {db}")
    execution_id = (cache / "ready").read_text()
    work = Path(tempfile.mkdtemp(prefix="controlroom-bench-node-"))
    shutil.copy(db, work / "node.db")
    get_execution = ("get_workflow_execution", {"execution_id": execution_id})
    timings: dict[str, Timing] = {}
    try:
        async with server("node", work) as (pid, port):
            timings["get_execution"] = await client_calls(pid, port, *get_execution, calls, auth=TOKEN)
            timings["list_logs"] = await client_calls(pid, port, "list_logs", {"limit": 200}, calls, auth=TOKEN)
            timings["get_execution_raw"] = await raw_calls(pid, port, *get_execution, calls)
            timings["list_logs_raw"] = await raw_calls(pid, port, "list_logs", {"limit": 200}, calls)
            timings["list_logs_default_raw"] = await raw_calls(pid, port, "list_logs", {}, calls)
        async with server("node-noop", work) as (pid, port):
            timings["node_noop_raw"] = await raw_calls(pid, port, "noop", {"value": 1}, calls)
        async with server("noop") as (pid, port):
            timings["noop"] = await client_calls(pid, port, "noop", {"value": 1}, calls)
            timings["noop_raw"] = await raw_calls(pid, port, "noop", {"value": 1}, calls)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, timing in timings.items():
        print(f"{name}: p50={timing.p50:.2f} ms p99={percentile(timing.walls, 0.99):.2f} ms "
              f"server_cpu={timing.cpu_us:.0f} us/call ({len(timing.walls)} calls)")
    print(f"load average {load_average()}")
    print(f"node_queries get_execution_p50_ms={timings['get_execution'].p50:.2f} "
          f"get_execution_p99_ms={percentile(timings['get_execution'].walls, 0.99):.2f} "
          f"list_logs_p50_ms={timings['list_logs'].p50:.2f} "
          f"list_logs_p99_ms={percentile(timings['list_logs'].walls, 0.99):.2f} "
          f"get_execution_raw_p50_ms={timings['get_execution_raw'].p50:.2f} "
          f"list_logs_raw_p50_ms={timings['list_logs_raw'].p50:.2f} "
          f"list_logs_default_raw_p50_ms={timings['list_logs_default_raw'].p50:.2f} "
          f"noop_baseline_p50_ms={timings['noop'].p50:.2f} noop_raw_p50_ms={timings['noop_raw'].p50:.2f} "
          f"list_logs_raw_cpu_us={timings['list_logs_raw'].cpu_us:.0f} "
          f"list_logs_default_raw_cpu_us={timings['list_logs_default_raw'].cpu_us:.0f} "
          f"get_execution_raw_cpu_us={timings['get_execution_raw'].cpu_us:.0f} "
          f"noop_raw_cpu_us={timings['noop_raw'].cpu_us:.0f} "
          f"node_noop_raw_cpu_us={timings['node_noop_raw'].cpu_us:.0f} "
          f"load_avg={os.getloadavg()[0]:.1f} goal_ms=5")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--serve", choices=["node", "node-noop", "noop"], help=argparse.SUPPRESS)  # the child
    parser.add_argument("--state-dir", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        asyncio.run(serve(options.serve, options.state_dir))
    else:
        asyncio.run(main(options.rows, options.messages, options.calls))
