"""A node that restarts closes what its previous process left running."""

from __future__ import annotations

from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.testbed import NODE_RESTART_ERROR, TestbedManager
from workflows.store.store import Store


async def test_restarted_node_closes_leftovers(store: Store) -> None:
    await store.agents.upsert_testbed("left", "testbed", "ready", mode="inprocess", node="node-a", agents={})
    await store.agents.upsert_testbed("other", "testbed", "ready", mode="inprocess", node="node-b", agents={})
    await store.agents.upsert_agent(name="data-agent-left-1", namespace="left", agent_type="data", status="READY")
    execution = await store.executions.create("stf_datataking", "left", "alice", {}, "h", None, {}, False)
    await store.executions.set_status(execution.execution_id, "running", run_number=100500)
    await store.runs.start_run(100500, "left", execution_id=execution.execution_id)

    async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="node-a") as manager:
        assert manager.namespaces() == []
        record = await store.executions.get(execution.execution_id)
        assert record.status == "terminated" and record.error == NODE_RESTART_ERROR
        assert (await store.runs.get_run(100500)).status == "ended"
        assert (await store.agents.get_agent("data-agent-left-1")).status == "EXITED"
        assert (await store.agents.get_testbed("left")).status == "stopped"
        assert (await store.agents.get_testbed("other")).status == "ready"  # another node's: untouched
        status = await manager.testbed_status("left")
        assert not status.ready and "start_testbed" in status.message
