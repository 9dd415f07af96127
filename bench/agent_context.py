"""What a model is given: tool definitions, the canonical task's results, the biggest default list page.

Starts ``controlroom up`` (a child process, embedded bus) on a state directory whose node store
already holds 1,000,000 log rows and 100,000 messages (the store of ``bench/node_queries.py``,
filled once and cached in the temp dir), connects one ``fastmcp.Client`` with the printed token
and counts characters the way an MCP client hands them to a model:

- tool definitions: JSON of each listed tool's ``{name, description, input_schema}`` (what Claude
  Code puts into the Messages API ``tools`` array; output schemas are not sent), summed;
- results: the structured content as JSON (``json.dumps``), else the text content;
- the canonical task: start_testbed, start_workflow, wait_for_execution, get_workflow_execution;
- every ``list_*`` tool called with its defaults (after the task ran), the biggest one counted.

Goals (issue 12): tool definitions <= 20,000, task <= 4,000, biggest default list page <= 6,000.

    .venv/bin/python bench/agent_context.py [--rows 1000000] [--messages 100000] [--per-tool]

Last line: ``agent_context tool_defs=... task=... list_page_max=... (list_page_tool=...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastmcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from node_queries import fill  # noqa: E402  (the same 1M-row store, same cache)

NAMESPACE = "agentctx"
GOALS = {"tool_defs": 20_000, "task": 4_000, "list_page_max": 6_000}


def tool_definition_chars(tool: Any) -> int:
    """Characters of one tool as a client sends it to the model: ``{name, description, input_schema}``."""
    return len(json.dumps({"name": tool.name, "description": tool.description or "",
                           "input_schema": tool.input_schema}))


def result_chars(result: Any) -> int:
    """Characters of one call result as the model reads it: structured content JSON, else the text."""
    if result.structured_content is not None:
        return len(json.dumps(result.structured_content))
    return sum(len(getattr(block, "text", "") or "") for block in result.content)


async def cached_store(rows: int, messages: int) -> Path:
    cache = Path(tempfile.gettempdir()) / f"controlroom-bench-node-{rows}-{messages}"
    if not (cache / "ready").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        started = time.perf_counter()
        execution_id = await fill(cache / "node.db", rows, messages)
        (cache / "ready").write_text(execution_id)
        print(f"filled {rows} logs + {messages} messages in {time.perf_counter() - started:.1f} s")
    return cache / "node.db"


def start_up(state: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_gateway.cli", "up", "--state-dir", str(state), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while not (state / "connection.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_up(process)
            raise SystemExit("controlroom up did not come up:\n" + (process.stdout.read() if process.stdout else ""))
        time.sleep(0.2)
    return process, json.loads((state / "connection.json").read_text())


def stop_up(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


async def measure(url: str, token: str, per_tool: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with Client(url, auth=token, timeout=300) as client:
        tools = await client.list_tools()
        sizes = {tool.name: tool_definition_chars(tool) for tool in tools}
        figures["tool_count"] = len(tools)
        figures["tool_defs"] = sum(sizes.values())
        if per_tool:
            for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
                print(f"  tool {name}: {size}")

        task: dict[str, int] = {}
        result = await client.call_tool("start_testbed", {"namespace": NAMESPACE})
        task["start_testbed"] = result_chars(result)
        result = await client.call_tool("start_workflow", {"namespace": NAMESPACE})
        task["start_workflow"] = result_chars(result)
        execution_id = result.structured_content["execution_id"]
        result = await client.call_tool("wait_for_execution", {"execution_id": execution_id, "timeout_s": 600})
        task["wait_for_execution"] = result_chars(result)
        result = await client.call_tool("get_workflow_execution", {"execution_id": execution_id})
        task["get_workflow_execution"] = result_chars(result)
        for name, size in task.items():
            print(f"  task {name}: {size}")
        figures["task"] = sum(task.values())

        pages: dict[str, int] = {}
        for tool in tools:
            required = (tool.input_schema or {}).get("required") or []
            if not tool.name.startswith("list_") or required:
                continue
            result = await client.call_tool(tool.name, {}, raise_on_error=False)
            pages[tool.name] = result_chars(result)
        for name, size in sorted(pages.items(), key=lambda item: -item[1]):
            print(f"  list {name}: {size}")
        figures["list_page_tool"], figures["list_page_max"] = max(pages.items(), key=lambda item: item[1])
        await client.call_tool("stop_testbed", {"namespace": NAMESPACE}, raise_on_error=False)
    return figures


async def main(rows: int, messages: int, per_tool: bool) -> None:
    database = await cached_store(rows, messages)
    state = Path(tempfile.mkdtemp(prefix="controlroom-bench-context-"))
    process = None
    try:
        shutil.copy(database, state / "node.db")
        process, connection = start_up(state)
        figures = await measure(connection["url"], connection["token"], per_tool)
    finally:
        if process is not None:
            stop_up(process)
        shutil.rmtree(state, ignore_errors=True)
    met = " ".join(f"{key}_met={'yes' if figures[key] <= goal else 'no'}" for key, goal in GOALS.items())
    print(f"{figures['tool_count']} tools; goals: tool_defs<={GOALS['tool_defs']} task<={GOALS['task']} "
          f"list_page_max<={GOALS['list_page_max']}; {met}")
    print(f"agent_context tool_defs={figures['tool_defs']} task={figures['task']} "
          f"list_page_max={figures['list_page_max']} (list_page_tool={figures['list_page_tool']})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--per-tool", action="store_true", help="print every tool's and result's size")
    options = parser.parse_args()
    asyncio.run(main(options.rows, options.messages, options.per_tool))
