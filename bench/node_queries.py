"""Node query latency over HTTP with a big store.

Fills a SQLite store with 1,000,000 log rows and 100,000 messages (once; the file is cached in
the temp dir, re-runs reuse it), serves the node over streamable HTTP on 127.0.0.1 and times,
through one fastmcp.Client, ``get_workflow_execution`` and ``list_logs`` returning 200 rows.
Goal: p50 <= 5 ms for both. A no-op tool on a bare FastMCP server, timed in the same run, gives
the floor of the MCP stack under the machine's current load. The same two calls are also timed
as raw JSON-RPC posts (httpx2, what the gateway forwards): fastmcp.Client validates every
result against the tool's output schema with the pure-Python jsonschema, per field of every
row, which the gateway path does not pay.

    .venv/bin/python bench/node_queries.py [--rows 1000000] [--messages 100000] [--calls 300]

Last line: ``node_queries get_execution_p50_ms=... list_logs_p50_ms=... list_logs_raw_p50_ms=... goal_ms=5``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
from fastmcp import Client, FastMCP

from mcp_nodes.http import serve_http
from mcp_nodes.runtime import node_runtime
from mcp_nodes.settings import NodeSettings
from workflows.store.database import Database
from workflows.store.records import LogIn, MessageIn
from workflows.store.store import Store

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


async def noop_baseline(calls: int) -> list[float]:
    """The same client calling a no-op tool on a bare FastMCP server over HTTP: the floor of
    the MCP stack on this machine at this moment (other load included)."""
    bare = FastMCP("baseline")

    @bare.tool
    async def noop(value: int = 1) -> int:
        """Return value."""
        return value

    figures = []
    async with serve_http(bare.http_app(path="/mcp")) as port:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            for i in range(calls + 20):
                t0 = time.perf_counter()
                await client.call_tool("noop", {"value": i})
                if i >= 20:
                    figures.append((time.perf_counter() - t0) * 1000)
    return figures


async def raw_calls(port: int, tool: str, args: dict[str, object], calls: int) -> list[float]:
    """``tools/call`` posted as plain JSON-RPC over HTTP (no client-side schema validation)."""
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": ERA, "mcp-method": "tools/call", "mcp-name": tool,
               "authorization": f"Bearer {TOKEN}"}
    meta = {"io.modelcontextprotocol/protocolVersion": ERA, "io.modelcontextprotocol/clientCapabilities": {}}
    figures = []
    async with httpx2.AsyncClient() as http:
        for i in range(calls + 20):
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": tool, "arguments": args, "_meta": meta}}
            t0 = time.perf_counter()
            reply = await http.post(f"http://127.0.0.1:{port}/mcp", json=body, headers=headers)
            elapsed = (time.perf_counter() - t0) * 1000
            if reply.status_code != 200 or "error" in reply.json():
                raise SystemExit(f"raw {tool} failed: {reply.status_code} {reply.text[:300]}")
            if i >= 20:
                figures.append(elapsed)
    return figures


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
    settings = NodeSettings(name="bench", port=0, state_dir=work, token=TOKEN)
    try:
        async with node_runtime(settings) as runtime:
            async with serve_http(runtime.build().http_app(path="/mcp")) as port:
                async with Client(f"http://127.0.0.1:{port}/mcp", auth=TOKEN) as client:
                    figures: dict[str, list[float]] = {"get_execution": [], "list_logs": []}
                    for name, tool, args in (
                        ("get_execution", "get_workflow_execution", {"execution_id": execution_id}),
                        ("list_logs", "list_logs", {"limit": 200}),
                    ):
                        for i in range(calls + 20):
                            t0 = time.perf_counter()
                            result = await client.call_tool(tool, args)
                            elapsed = (time.perf_counter() - t0) * 1000
                            if i >= 20:  # warm-up
                                figures[name].append(elapsed)
                        if name == "list_logs":
                            assert len(result.structured_content["items"]) == 200
                            print(f"list_logs page: {len(result.content[0].text)} bytes of text content")
                    figures["get_execution_raw"] = await raw_calls(
                        port, "get_workflow_execution", {"execution_id": execution_id}, calls)
                    figures["list_logs_raw"] = await raw_calls(port, "list_logs", {"limit": 200}, calls)
                    figures["noop_baseline"] = await noop_baseline(calls)
                    for name, values in figures.items():
                        print(f"{name}: p50={statistics.median(values):.2f} ms p99={percentile(values, 0.99):.2f} ms "
                              f"({len(values)} calls)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"node_queries get_execution_p50_ms={statistics.median(figures['get_execution']):.2f} "
          f"get_execution_p99_ms={percentile(figures['get_execution'], 0.99):.2f} "
          f"list_logs_p50_ms={statistics.median(figures['list_logs']):.2f} "
          f"list_logs_p99_ms={percentile(figures['list_logs'], 0.99):.2f} "
          f"list_logs_raw_p50_ms={statistics.median(figures['list_logs_raw']):.2f} "
          f"noop_baseline_p50_ms={statistics.median(figures['noop_baseline']):.2f} "
          f"load_avg={os.getloadavg()[0]:.1f} goal_ms=5")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300)
    options = parser.parse_args()
    asyncio.run(main(options.rows, options.messages, options.calls))
