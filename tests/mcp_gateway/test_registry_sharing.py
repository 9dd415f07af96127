"""Two `Registry` objects on one database, as two replicas hold them: what one writes, the other
merges on `refresh` (new nodes, namespaces changed by a heartbeat, health), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_gateway.models import Principal
from mcp_gateway.registry import Registry
from mcp_gateway.registry_store import RegistryStore
from mcp_nodes.contract.registration import Heartbeat, NodeInfo
from tests.mcp_gateway.test_migrations import engine  # noqa: F401  (the fixture: SQLite and PostgreSQL)

NODE = Principal(user="n1", namespaces=["a", "b"], scopes=["node"])
TOOLS = [{"name": "start_workflow", "inputSchema": {"type": "object"}}]


async def registries(engine: AsyncEngine) -> tuple[Registry, Registry]:  # noqa: F811
    store = RegistryStore(engine)
    await store.upgrade()
    a, b = Registry(RegistryStore(engine), lease_s=10, heartbeat_s=3), Registry(RegistryStore(engine), lease_s=10, heartbeat_s=3)
    await a.load()
    await b.load()
    return a, b


async def test_what_one_replica_writes_the_other_merges(engine: AsyncEngine) -> None:  # noqa: F811
    a, b = await registries(engine)
    await a.register(NodeInfo(name="n1", url="http://127.0.0.1:1/mcp", namespaces=["a"], tools=TOOLS), NODE)
    assert "n1" not in b.nodes
    assert await b.refresh() is True
    assert b.by_namespace == {"a": ["n1"]} and "start_workflow" in b.catalog

    assert await b.refresh() is False  # nothing changed: nothing to merge

    seen = b.nodes["n1"].last_heartbeat
    await a.heartbeat(Heartbeat(name="n1", load=0.5, namespaces=["a", "b"]), NODE)  # a testbed started on b
    assert await b.refresh() is True
    assert b.by_namespace == {"a": ["n1"], "b": ["n1"]} and b.nodes["n1"].serves("b")
    assert b.nodes["n1"].last_heartbeat > seen and b.nodes["n1"].load == 0.5  # the lease renewed on B too

    await a.mark_down("n1")
    assert await b.refresh() is True and b.nodes["n1"].health == "down" and b.healthy() == []

    again = Registry(RegistryStore(engine), lease_s=10, heartbeat_s=3)  # a restarted replica: namespaces kept
    await again.load()
    assert again.nodes["n1"].namespaces == ["a", "b"]


async def test_a_node_may_move_its_heartbeats_and_deregistration_to_another_replica(engine: AsyncEngine) -> None:  # noqa: F811
    a, b = await registries(engine)
    c = Registry(RegistryStore(engine), lease_s=10, heartbeat_s=3)
    await c.load()  # a third replica, loaded before the node existed
    await a.register(NodeInfo(name="n1", url="http://127.0.0.1:1/mcp", namespaces=["a"], tools=TOOLS), NODE)
    accepted = await b.heartbeat(Heartbeat(name="n1", load=0.1), NODE)  # B had not refreshed yet
    assert accepted.name == "n1" and b.nodes["n1"].health == "up"
    await c.deregister("n1", NODE)  # and it leaves through C, which has not refreshed either
    assert await a.refresh() is True and a.nodes["n1"].health == "gone" and a.by_namespace == {}


async def test_a_probe_on_one_replica_does_not_revive_a_node_that_left_through_another(engine: AsyncEngine) -> None:  # noqa: F811
    a, b = await registries(engine)
    await a.register(NodeInfo(name="n1", url="http://127.0.0.1:1/mcp", namespaces=["a"], tools=TOOLS), NODE)
    await b.refresh()
    await a.deregister("n1", NODE)
    await b.mark_down("n1")  # B's lease on it lapsed and its probe failed, before B saw the deregistration
    assert b.nodes["n1"].health == "up"  # not applied: the row was no longer "up"
    await b.refresh()
    assert b.nodes["n1"].health == "gone"
    again = Registry(RegistryStore(engine), lease_s=10, heartbeat_s=3)
    await again.load()
    assert again.nodes["n1"].health == "gone"  # the row still says gone, not down
