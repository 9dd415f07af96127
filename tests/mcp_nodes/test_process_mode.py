"""Process mode on ActiveMQ: kill an agent's process; the node restarts it and the testbed is ready again."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from mcp_nodes.http import serve_http
from tests.mcp_nodes.conftest import LiveNode, node_settings
from tests.mcp_nodes.test_tools import call, wait_ready

pytestmark = pytest.mark.activemq


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_killed_agent_process_is_restarted(tmp_path: Path, stomp_address: tuple[str, int]) -> None:
    from mcp_nodes.runtime import node_runtime

    host, port = stomp_address
    settings = node_settings(tmp_path, bus="stomp", stomp=f"{host}:{port}", heartbeat_interval_s=0.5)
    namespace = f"proc-{os.getpid()}"
    async with node_runtime(settings) as runtime:
        async with serve_http(runtime.build().http_app(path="/mcp")) as http_port:
            node = LiveNode(url=f"http://127.0.0.1:{http_port}/mcp", runtime=runtime)
            async with node.client() as client:
                await call(client, "start_testbed", namespace=namespace, reason="process-mode test")
                await wait_ready(client, namespace, timeout=30)
                # every agent (list pages are model-sized by default: ask for all of them)
                agents: list[dict[str, Any]] = (await call(client, "list_agents", namespace=namespace, limit=200))["items"]
                pids = {a["name"]: a["pid"] for a in agents if a["pid"]}
                assert pids and (await call(client, "get_testbed_status", namespace=namespace))["mode"] == "process"
                victim = next(a for a in agents if a["agent_type"] == "processing")
                os.kill(victim["pid"], signal.SIGKILL)

                deadline = time.monotonic() + 30
                while True:
                    agent = await call(client, "get_agent", name=victim["name"])
                    if agent["restarts"] >= 1 and agent["pid"] != victim["pid"] and agent["status"] == "READY":
                        break
                    assert time.monotonic() < deadline, f"agent not restarted: {agent}"
                    await asyncio.sleep(0.1)
                await wait_ready(client, namespace, timeout=30)
                logs = await call(client, "list_logs", namespace=namespace, search="restart")
                assert logs["items"], "the restart was not logged"

                final = (await call(client, "list_agents", namespace=namespace, limit=200))["items"]
                pids.update({a["name"]: a["pid"] for a in final if a["pid"]})
                await call(client, "stop_testbed", namespace=namespace)
    for name, pid in pids.items():
        assert not alive(pid), f"orphan process {pid} of {name}"
