"""`node_runtime`: open everything a node needs (store, bus factory, testbed manager) and close it.

Example (what `controlroom up` does to run a gateway and a node in one process)::

    async with node_runtime(NodeSettings(state_dir=dir)) as runtime:
        mcp = runtime.build()                 # the FastMCP server
        app = mcp.http_app(path="/mcp")       # mount or serve it
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from fastmcp import FastMCP

from agents.testbed.bus.base import Bus
from agents.testbed.bus.url import bus_from_url, bus_url
from agents.testbed.testbed import TestbedManager
from mcp_nodes.provenance import ProvLinker
from mcp_nodes.server import build_node
from mcp_nodes.services import NodeServices
from mcp_nodes.settings import NodeSettings
from workflows.generated import GENERATED_DIR, restore_generated
from workflows.store.database import Database
from workflows.store.private import private_dir
from workflows.store.store import Store, open_store

__all__ = ["NodeRuntime", "node_runtime"]

log = logging.getLogger(__name__)


@dataclass
class NodeRuntime:
    """The open collaborators of one node."""

    settings: NodeSettings
    database: Database
    store: Store
    manager: TestbedManager
    services: NodeServices

    def build(self) -> FastMCP:
        """The node's FastMCP server over this runtime."""
        return build_node(self.settings, store=self.store, manager=self.manager, services=self.services)


def bus_factory(settings: NodeSettings) -> Callable[[], Bus]:
    """A factory of buses for the testbed manager: embedded, or STOMP to ``settings.stomp``."""
    url = bus_url(settings.stomp_address())
    return lambda: bus_from_url(url)


async def _open_linker(settings: NodeSettings, store: Store, manager: TestbedManager, stack: AsyncExitStack) -> ProvLinker:
    """Open the provenance writer (on the database port, its own connection pool) and the linker;
    both close with ``stack``."""
    from prov_agent.recorder import Recorder
    from prov_agent.store import ProvStore
    from prov_agent.writer import ProvWriter
    from workflows.store.database import Database, default_url

    database = Database(settings.prov_database_url or default_url(settings.state_dir))
    await database.open(upgrade=False)  # provenance tables only: prov_agent's own migrations below
    stack.push_async_callback(database.close)
    prov_store = ProvStore(database.shared_engine())
    await prov_store.create_schema()
    writer = await stack.enter_async_context(ProvWriter(prov_store))
    linker = ProvLinker(Recorder(writer, stream=f"node-{settings.name}"), store, manager)
    stack.push_async_callback(linker.aclose)
    return linker


@asynccontextmanager
async def node_runtime(settings: NodeSettings) -> AsyncIterator[NodeRuntime]:
    """Open the store (upgrading its schema), the bus factory and the testbed manager.

    At enter the manager re-adopts or cleanly closes the testbeds the store says this node was
    running; at exit every testbed stops and no agent process is left.
    """
    settings.stomp_address()  # fail early on bus=stomp without an address
    if settings.database_url is None:
        private_dir(settings.state_dir)  # 0700; the store creates node.db 0600
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(settings.resolved_database_url(), upgrade=True))
        database = store.db
        manager = TestbedManager(
            store=store, bus_factory=bus_factory(settings),
            mode="process" if settings.bus == "stomp" else "inprocess",
            node_name=settings.name, workflows_dir=settings.workflows_dir,
            stomp=settings.stomp_address(), database_url=settings.resolved_database_url(),
            heartbeat_interval_s=settings.heartbeat_interval_s, limits=settings.limits, sandbox=settings.sandbox(),
        )
        settings.sandbox().announce()  # a WARNING when caller code runs unconfined or cannot run
        await stack.enter_async_context(manager)
        await restore_generated(store, settings.state_dir / GENERATED_DIR)  # registered ones run again after a restart
        linker = await _open_linker(settings, store, manager, stack) if settings.provenance else None
        services = NodeServices(settings=settings, store=store, manager=manager, linker=linker)
        log.info("node %s open on %s (%s bus)", settings.name, settings.resolved_database_url(), settings.bus)
        yield NodeRuntime(settings=settings, database=database, store=store, manager=manager, services=services)
