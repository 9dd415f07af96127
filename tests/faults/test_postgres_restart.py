"""PostgreSQL restarted mid-run under a live node: the node reconnects, the execution completes or
fails with a reason, and nothing stays ``running``.

The server is a private cluster (initdb into a temporary directory, its own port and socket
directory, run as the ``postgres`` OS user under root), never the machine's shared PostgreSQL.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from mcp_nodes.http import serve_http
from tests.faults.services import PrivatePostgres
from tests.mcp_nodes.conftest import TOKEN, node_settings

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(300)]

NS = "pgfault"
OUTAGE_S = 3.0


async def call(client: Client, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, f"{tool}({args}): {result.content[0].text if result.content else result}"
    return result.structured_content


async def until_ok(client: Client, tool: str, timeout: float = 60.0, **args: Any) -> Any:
    """Call ``tool`` until it answers without error (the node reconnecting to the database)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await client.call_tool(tool, args, raise_on_error=False)
        if not result.is_error:
            return result.structured_content
        assert time.monotonic() < deadline, f"{tool} still fails: {result.content[0].text}"
        await asyncio.sleep(0.2)


async def assert_linked(runtime: Any, execution_id: str, run_number: int, timeout: float = 30.0) -> None:
    """The node's provenance (its own SQLite here) holds the execution's run link (hadMember),
    recorded by the linker after the execution ended."""
    from prov_agent import ids

    linker = runtime.services.linker
    deadline = time.monotonic() + timeout
    while True:
        await linker.recorder.writer.flush()
        found = await linker.recorder.writer.store.mentioning([ids.run_id(run_number)])
        if found:
            return
        assert time.monotonic() < deadline, (
            f"no provenance record mentions run {run_number} of {execution_id} {timeout:.0f} s after it ended: "
            "the linker gave up during the database outage")
        await asyncio.sleep(0.2)


@pytest.fixture
async def postgres() -> AsyncIterator[PrivatePostgres]:
    # not under pytest's tmp_path: the postgres OS user must be able to reach the directory
    server = PrivatePostgres(Path(tempfile.mkdtemp(prefix="controlroom-pg-")))
    try:
        await server.init()
        await server.start()
        yield server
    finally:
        if server.running():
            await server.stop("immediate")
        shutil.rmtree(server.directory, ignore_errors=True)


async def test_postgres_restart_mid_run(tmp_path: Path, postgres: PrivatePostgres) -> None:
    from mcp_nodes.runtime import node_runtime

    settings = node_settings(tmp_path / "node", database_url=postgres.url)
    async with node_runtime(settings) as runtime, serve_http(runtime.build().http_app(path="/mcp"),
                                                             "127.0.0.1", 0) as port:
        async with Client(f"http://127.0.0.1:{port}/mcp", auth=TOKEN, timeout=180) as client:
            await call(client, "start_testbed", namespace=NS)
            deadline = time.monotonic() + 60
            while not (await call(client, "get_testbed_status", namespace=NS))["ready"]:
                assert time.monotonic() < deadline, "testbed not ready"
                await asyncio.sleep(0.1)
            started = await call(client, "start_workflow", namespace=NS, realtime=True, parameters={
                "stf_count": 6, "slices_per_sample": 4, "target_worker_count": 2, "slice_processing_time": 10.0,
                "realtime_factor": 0.05})
            execution_id = started["execution_id"]

            async with asyncio.timeout(60):  # restart while slices are done and others still wait
                while True:
                    page = await call(client, "list_tf_slices", execution_id=execution_id, limit=200)
                    done = sum(s["status"] == "done" for s in page["items"])
                    if done and len(page["items"]) > done:
                        break
                    await asyncio.sleep(0.05)
            await postgres.stop("fast")  # ends every open connection of the node
            await asyncio.sleep(OUTAGE_S)
            await postgres.start()

            # the node is back on the database: its tools read the store again
            listed = await until_ok(client, "list_workflow_executions", namespace=NS)
            assert execution_id in {e["execution_id"] for e in listed["items"]}

            waited = await call(client, "wait_for_execution", execution_id=execution_id, timeout_s=60)
            execution = waited["execution"]
            print(f"postgres fault: {done} of 24 slices done at the stop; after it: status {execution['status']}, "
                  f"finished {waited['finished']}, error {execution.get('error')!r}")
            assert execution["status"] in ("completed", "failed"), (
                f"execution still {execution['status']!r} 60 s after PostgreSQL came back (finished="
                f"{waited['finished']}): the node did not record how it ended")
            if execution["status"] == "failed":
                assert execution["error"], "a failed execution names its reason"

            # the node's provenance linker rode out the outage: the run is linked to the execution
            await assert_linked(runtime, execution_id, execution["run_number"])

            # and a new run on the same testbed completes
            await until_ok(client, "get_testbed_status", namespace=NS)
            again = await call(client, "start_workflow", namespace=NS, parameters={"stf_count": 2})
            final = await call(client, "wait_for_execution", execution_id=again["execution_id"], timeout_s=60)
            assert final["execution"]["status"] == "completed", final
            await call(client, "stop_testbed", namespace=NS)
        running = await runtime.store.executions.list(currently_running=True)
        assert running.total == 0, [e.execution_id for e in running.items]
