"""Many processes writing one SQLite store at once (process mode: every agent is a process on the
node's file) never see "database is locked": stop_workflow-like status writes, heartbeats, logs,
counters, all concurrently, with the store's settings (WAL, BEGIN IMMEDIATE, 30 s busy timeout)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from workflows.store.database import default_url
from workflows.store.records import LogIn
from workflows.store.store import Store

CHILDREN = 6
ROUNDS = 40

CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from workflows.store.records import LogIn
from workflows.store.store import Store

async def main(url, index, execution_id, rounds):
    async with Store.from_url(url) as store:
        for n in range(rounds):
            await store.agents.upsert_agent(name=f"worker-agent-w-{index}", namespace="w", agent_type="worker",
                                            status="PROCESSING" if n % 2 else "READY", mode="process")
            await store.logs.add_logs([LogIn(namespace="w", agent=f"a{index}", level=20, message=f"round {n}",
                                             created_at=datetime.now(UTC))])
            await store.counters.add({f"slice_results_received:{execution_id}": 1})
            await store.executions.set_status(execution_id, "running", phase="run/physics", stf_count=n)
    print("ok", flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
"""


async def test_concurrent_writers_in_many_processes_never_see_a_locked_database(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    async with Store.from_url(url) as store:
        await store.namespaces.ensure("w")
        record = await store.executions.create("stf_datataking", "w", "tester", {}, "hash", None, {}, True)
        children = [await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, url, str(index), record.execution_id, str(ROUNDS),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for index in range(CHILDREN)]

        async def parent_writes() -> None:  # the node: stop_workflow closing runs, its own logs
            for n in range(ROUNDS):
                await store.executions.set_status(record.execution_id, "running", phase="beam/not_ready")
                await store.logs.add_logs([LogIn(namespace="w", agent="node", level=30, message=f"stop {n}")])

        await parent_writes()
        outputs = [await child.communicate() for child in children]
        for child, (out, err) in zip(children, outputs, strict=True):
            assert child.returncode == 0 and out.decode().strip() == "ok", err.decode()[-2000:]
            assert b"database is locked" not in err
        assert await store.counters.current(f"slice_results_received:{record.execution_id}") == CHILDREN * ROUNDS
        await store.executions.set_status(record.execution_id, "terminated", error="closed by the test")
        assert (await store.executions.get(record.execution_id)).status == "terminated"
