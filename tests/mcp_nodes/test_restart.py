"""A node restart closes what a previous process of the node left running (seen through the tools)."""

from __future__ import annotations

from pathlib import Path

from mcp_nodes.http import serve_http
from workflows.store.database import Database
from workflows.store.store import Store
from tests.mcp_nodes.conftest import LiveNode, node_settings
from tests.mcp_nodes.test_tools import call


async def test_restart_closes_orphaned_testbed_and_execution(tmp_path: Path) -> None:
    from mcp_nodes.runtime import node_runtime

    settings = node_settings(tmp_path)
    # What a crashed node process leaves behind: a ready testbed and a running execution.
    database = Database(settings.resolved_database_url())
    await database.open(upgrade=True)
    store = Store(database)
    await store.namespaces.ensure("crashed")
    await store.agents.upsert_testbed("crashed", "testbed", "ready", mode="inprocess", node=settings.name,
                                      started_by="alice", agents={})
    orphan = await store.executions.create(
        workflow_name="stf_datataking", namespace="crashed", executed_by="alice", config={}, config_hash="0" * 64,
        code_version="test", parameters={}, realtime=False, node=settings.name)
    await store.executions.set_status(orphan.execution_id, "running")
    await database.close()

    async with node_runtime(settings) as runtime:
        async with serve_http(runtime.build().http_app(path="/mcp")) as port:
            node = LiveNode(url=f"http://127.0.0.1:{port}/mcp", runtime=runtime)
            async with node.client() as client:
                record = await call(client, "get_workflow_execution", execution_id=orphan.execution_id)
                assert record["status"] == "terminated" and "restart" in (record["error"] or "")
                assert (await call(client, "list_workflow_executions", currently_running=True))["total"] == 0
                state = await call(client, "get_system_state")
                assert state["testbeds"] == []
