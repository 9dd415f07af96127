"""A node served in a task group stops cleanly when the group is cancelled: ``serve_node`` runs
"until cancelled", and a cancel scope's cancellation must not cut its clean-up short (the testbeds
stop, the store closes). Before, every await of the clean-up was cancelled in turn: the testbed's
row still said ready, and the store's connection was left to the garbage collector."""

from __future__ import annotations

from pathlib import Path

import anyio
from fastmcp import Client

from mcp_nodes.serve import serve_node
from tests.mcp_nodes.conftest import TOKEN, node_settings
from workflows.store.store import Store


async def test_a_node_cancelled_by_its_task_group_stops_its_testbeds_and_closes_its_store(tmp_path: Path) -> None:
    settings = node_settings(tmp_path / "node")
    urls: list[str] = []
    started = anyio.Event()

    def on_start(url: str) -> None:
        urls.append(url)
        started.set()

    async with anyio.create_task_group() as group:
        group.start_soon(lambda: serve_node(settings, started=on_start))
        with anyio.fail_after(60):
            await started.wait()
        async with Client(urls[0], auth=TOKEN, timeout=60) as client:
            status = await client.call_tool("start_testbed", {"namespace": "cx"})
        assert status.structured_content["ready"], status.structured_content
        group.cancel_scope.cancel()

    async with Store.from_url(settings.resolved_database_url()) as store:
        testbed = await store.agents.get_testbed("cx")
        agents = (await store.agents.list_agents(namespace="cx", limit=50)).items
    assert testbed.status == "stopped"
    assert agents and {a.status for a in agents} == {"EXITED"}
    assert not (tmp_path / "node" / "node.db-wal").exists()  # the last connection closed (SQLite checkpointed)
