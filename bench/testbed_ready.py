"""start_testbed -> ready, through the node's MCP tools over HTTP.

In-process (embedded bus, agents as asyncio tasks) and as child processes on ActiveMQ (STOMP on
127.0.0.1:61613; skipped with a note when the broker does not answer). Readiness is observed by
calling get_testbed_status every 10 ms. Goals: <= 1 s in-process, <= 3 s as processes.

    .venv/bin/python bench/testbed_ready.py [--repeat 3]

Last line: ``testbed_ready inprocess_s=... process_s=... goal_inprocess_s=1 goal_process_s=3``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

from fastmcp import Client

from mcp_nodes.http import serve_http
from mcp_nodes.runtime import node_runtime
from mcp_nodes.settings import NodeSettings

TOKEN = "bench-token"


async def time_ready(settings: NodeSettings, namespace: str) -> float:
    async with node_runtime(settings) as runtime:
        async with serve_http(runtime.build().http_app(path="/mcp")) as port:
            async with Client(f"http://127.0.0.1:{port}/mcp", auth=TOKEN, timeout=30) as client:
                t0 = time.perf_counter()
                await client.call_tool("start_testbed", {"namespace": namespace})
                while True:
                    status = (await client.call_tool("get_testbed_status", {"namespace": namespace})).structured_content
                    if status["ready"]:
                        elapsed = time.perf_counter() - t0
                        break
                    if time.perf_counter() - t0 > 30:
                        raise TimeoutError(f"testbed not ready after 30 s: {status}")
                    await asyncio.sleep(0.01)
                await client.call_tool("stop_testbed", {"namespace": namespace})
                return elapsed


def broker_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def main(repeat: int) -> None:
    results: dict[str, float | None] = {}
    for mode in ("inprocess", "process"):
        if mode == "process" and not broker_up("127.0.0.1", 61613):
            print("process mode skipped: no STOMP broker on 127.0.0.1:61613 (.ci/activemq.sh start)")
            results[mode] = None
            continue
        times = []
        for i in range(repeat):
            work = Path(tempfile.mkdtemp(prefix="controlroom-bench-ready-"))
            try:
                extra = {"bus": "stomp", "stomp": "127.0.0.1:61613"} if mode == "process" else {}
                settings = NodeSettings(name="bench", port=0, state_dir=work, token=TOKEN,
                                        heartbeat_interval_s=5, **extra)
                times.append(await time_ready(settings, f"bench-ready-{mode}-{i}"))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        results[mode] = statistics.median(times)
        print(f"{mode}: " + " ".join(f"{t:.3f}" for t in times) + f" s (median {results[mode]:.3f} s)")

    def show(value: float | None) -> str:
        return "skipped" if value is None else f"{value:.3f}"

    print(f"testbed_ready inprocess_s={show(results['inprocess'])} process_s={show(results['process'])} "
          "goal_inprocess_s=1 goal_process_s=3")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args().repeat))
