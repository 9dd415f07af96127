"""System agents, testbeds and namespaces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.store import InvalidQuery, NotFound, Store


async def test_agent_heartbeats_and_liveness(store: Store) -> None:
    old = datetime.now(UTC) - timedelta(minutes=10)
    first = await store.agents.upsert_agent("data-agent-alice-1", "alice", "data", "STARTING", pid=11,
                                            hostname="h1", mode="process", heartbeat=old)
    assert first.started_at == old and first.restarts == 0
    await store.agents.upsert_agent("fastmon-agent-alice-1", "alice", "fastmon", "READY")
    await store.agents.upsert_agent("data-agent-bob-1", "bob", "data", "PROCESSING", execution_id="wf-bob-0001")
    beat = await store.agents.upsert_agent("data-agent-alice-1", "alice", "data", "READY", heartbeat=old)
    assert beat.status == "READY" and beat.pid == 11 and beat.mode == "process" and beat.started_at == old

    assert {a.name for a in (await store.agents.list_agents(namespace="alice")).items} == {
        "data-agent-alice-1", "fastmon-agent-alice-1"}
    assert [a.name for a in (await store.agents.list_agents(agent_type="data", status="PROCESSING")).items] == [
        "data-agent-bob-1"]
    assert [a.name for a in (await store.agents.list_agents(end_time=old + timedelta(seconds=1))).items] == [
        "data-agent-alice-1"]
    assert [a.name for a in (await store.agents.list_agents(execution_id="wf-bob-0001")).items] == [
        "data-agent-bob-1"]

    cutoff = datetime.now(UTC) - timedelta(minutes=3)
    assert await store.agents.mark_exited_older_than(cutoff) == ["data-agent-alice-1"]
    assert (await store.agents.get_agent("data-agent-alice-1")).status == "EXITED"
    assert await store.agents.mark_exited_older_than(cutoff) == []
    with pytest.raises(NotFound, match="agent"):
        await store.agents.get_agent("ghost")
    with pytest.raises(InvalidQuery, match="status: unknown agent status 'ready'"):
        await store.agents.upsert_agent("x", "alice", "data", "ready")  # type: ignore[arg-type]


async def test_testbeds(store: Store) -> None:
    started = await store.agents.upsert_testbed("alice", "testbed.toml", "starting", node="node-a",
                                                started_by="alice", agents={"data": {"enabled": True}})
    assert started.stopped_at is None and started.agents == {"data": {"enabled": True}}
    ready = await store.agents.upsert_testbed("alice", "testbed.toml", "ready")
    assert ready.started_at == started.started_at and ready.node == "node-a"
    stopped = await store.agents.upsert_testbed("alice", "testbed.toml", "stopped")
    assert stopped.stopped_at is not None
    await store.agents.upsert_testbed("bob", "testbed.toml", "ready")
    assert [t.namespace for t in await store.agents.list_testbeds()] == ["alice", "bob"]
    assert [t.namespace for t in await store.agents.list_testbeds(status="ready")] == ["bob"]
    assert (await store.agents.get_testbed("alice")).status == "stopped"
    with pytest.raises(NotFound, match="testbed"):
        await store.agents.get_testbed("carol")
    with pytest.raises(InvalidQuery, match="status"):
        await store.agents.upsert_testbed("alice", "t", "gone")  # type: ignore[arg-type]


async def test_namespaces_with_counts(store: Store) -> None:
    alice = await store.namespaces.ensure("alice", "Alice's testbed")
    assert alice.execution_count == 0 and alice.description == "Alice's testbed"
    assert (await store.namespaces.ensure("alice")).description == "Alice's testbed"
    await store.namespaces.ensure("bob")
    await store.executions.create("w", "alice", "alice", {}, "h", None, {}, False)
    await store.agents.upsert_agent("data-agent-alice-1", "alice", "data", "READY")
    listed = await store.namespaces.list()
    assert [(n.name, n.execution_count, n.agent_count) for n in listed] == [("alice", 1, 1), ("bob", 0, 0)]
    with pytest.raises(NotFound, match="namespace"):
        await store.namespaces.get("carol")
    with pytest.raises(InvalidQuery, match="name"):
        await store.namespaces.ensure("")
