"""The gateway factory: the one place that shows what wraps what.

``HTTP /mcp`` -> authenticate (`McpPassthrough`) -> for node tools/call:
observe/record -> rate limit -> scope -> route (isolation, node choice) -> forward (breaker, timeout,
retries, output limit); everything else -> the FastMCP server (initialize, server/discover,
tools/list with the logical tools, the gateway's own tools). ``/nodes`` -> registry API.
``/ui`` -> the web monitor, whose reads and actions take the same chain as its signed-in viewer.

Example (embedding beside a node in one process)::

    gateway = build_gateway(GatewaySettings(state_dir=path, port=0))
    async with gateway.lifespan():
        await serve_asgi(gateway.app, host, port)      # or uvicorn with lifespan="off"
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import anyio
from fastmcp import FastMCP
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from agents.ai.debugger.loop import StepObserver
from agents.ai.debugger.policy import Policy
from agents.ai.llm import LLM
from agents.ai.provenance import ProvSteps
from mcp_gateway.auth import Authenticator
from mcp_gateway.breaker import Breakers
from mcp_gateway.calls import Forwarder, ObserveStage, RateLimitStage, RouteStage, compose
from mcp_gateway.capabilities import ScopeStage, scope_middleware
from mcp_gateway.forwarding import NodeClients
from mcp_gateway.health import HealthMonitor
from mcp_gateway.keys import KeyRing, SharedKeys
from mcp_gateway.observe import CallObserver
from mcp_gateway.passthrough import McpPassthrough
from mcp_gateway.ratelimit import RateLimiter
from mcp_gateway.registry import Registry
from mcp_gateway.registry_api import registry_routes
from mcp_gateway.registry_store import RegistryStore
from mcp_gateway.routing import EntityKey, Owner, Router
from mcp_gateway.settings import GatewaySettings
from mcp_gateway.debugging import DebugService, add_debug_tools
from mcp_gateway.watch import FailureWatcher
from mcp_gateway.models import Principal
from mcp_gateway.monitor import Backend, monitor_routes
from mcp_gateway.provenance import ProvCallObserver
from mcp_gateway.skills import add_skills
from mcp_gateway.transport import transport_edge
from mcp_nodes.version import node_version as controlroom_version
from workflows.store.database import Database
from workflows.store.private import private_dir
from mcp_gateway.tools import CatalogProvider, add_gateway_tools, current_principal
from mcp_nodes.compact import CompactSchemas
from prov_agent.recorder import Recorder
from prov_agent.tools import Caller, provenance_tools

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 75
"""Idle keep-alive of client connections. uvicorn's default (5 s) raced clients that reuse an idle
connection after ~4 s (Node's fetch): under load the gateway closed a socket the client had just
written a request to ("other side closed"). Clients must time out idle connections first."""

INSTRUCTIONS = (
    "controlroom gateway: one entry point to the execution nodes that run streaming-workflow "
    "testbeds. Node tools are routed for you (by execution id, run number, agent, namespace); "
    "pass node=NAME only to force a node. list_nodes shows node health. After start_workflow, "
    "call wait_for_execution (it reports progress; call it again while finished=false): do not sleep and poll."
)


@dataclass
class Gateway:
    """The assembled gateway: an ASGI app, its lifespan, and the parts others extend."""

    app: ASGIApp
    mcp: FastMCP
    registry: Registry
    store: RegistryStore
    authenticator: Authenticator
    router: Router
    observers: list[CallObserver]
    settings: GatewaySettings
    _lifespan: contextlib.AbstractAsyncContextManager[None] | None = field(default=None, repr=False)

    def add_observer(self, observer: CallObserver) -> None:
        """Receive a `CallRecord` for every forwarded tools/call."""
        self.observers.append(observer)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Open the database, reload registry and tokens, start the health monitor and FastMCP."""
        assert self._lifespan is not None
        async with self._lifespan:
            yield


def build_gateway(
    settings: GatewaySettings | None = None,
    *,
    engine: AsyncEngine | None = None,
    observers: Sequence[CallObserver] = (),
    recorder: Recorder | None = None,
    policy: Policy | None = None,
    llm: LLM | None = None,
) -> Gateway:
    """Assemble the gateway. ``engine`` defaults to the database port (`workflows.store.database.
    Database`) opened on ``settings``' database URL in the lifespan, which also brings the gateway's
    tables to the newest migration.

    With a provenance ``recorder``, every routed call is recorded, the provenance tools are
    served and the debugging agent's steps are recorded; ``policy`` and ``llm`` configure the
    debugging agent (default policy; rules only without an LLM).
    """
    settings = settings or GatewaySettings()
    database = Database(settings.resolved_database_url()) if engine is None else None
    if database is not None and settings.database_url is None:
        private_dir(settings.state_dir)  # 0700; the port creates gateway.db 0600 before SQLite does
    store = RegistryStore(engine)
    keys = KeyRing(settings.identity_keys_path(), settings.identity_ttl_s)  # Ed25519; nodes get the JWKS
    shared_keys = SharedKeys(keys, store, settings.replica())  # ...of every replica on this database
    registry = Registry(store, lease_s=settings.lease_s, heartbeat_s=settings.heartbeat_s, jwks=shared_keys.jwks,
                        fresh_jwks=shared_keys.fresh_jwks)
    authenticator = Authenticator(store)
    breakers = Breakers(settings.breaker_failures, settings.breaker_reset_s)
    clients = NodeClients(keys, settings.identity_ttl_s, settings.max_output_bytes)
    monitor = HealthMonitor(registry, clients, settings.probe_timeout_s)
    registry.on_change(lambda state: breakers.reset(state.name) if state.health == "up" else None)

    async def locate(entity: EntityKey) -> Owner | None:
        return await clients.locate(registry.healthy(), entity, settings.locate_timeout_s)

    router = Router(registry, breakers, locate)
    observer_list = list(observers)
    if recorder is not None:
        observer_list.append(ProvCallObserver(recorder))

    # The call chain for forwarded node tools, outermost first.
    handler = compose(
        [
            ObserveStage(observer_list),
            RateLimitStage(RateLimiter(settings.rate_per_s, settings.rate_burst)),
            ScopeStage(),
            RouteStage(router),
        ],
        Forwarder(registry, clients, breakers, call_timeout_s=settings.call_timeout_s,
                  long_call_margin_s=settings.long_call_margin_s, read_retries=settings.read_retries,
                  on_unreachable=monitor.confirm_down),
    )

    mcp = FastMCP("controlroom-gateway", instructions=INSTRUCTIONS, version=controlroom_version(),
                  providers=[CatalogProvider(registry)],
                  middleware=[scope_middleware()])
    add_gateway_tools(mcp, registry, breakers)
    debugging = DebugService(handler, lambda: registry.catalog, policy=policy or Policy(), llm=llm,
                             step_observer=_debug_steps(recorder) if recorder is not None else None,
                             prov_store=(lambda: recorder.writer) if recorder is not None else None)
    add_debug_tools(mcp, debugging)
    watcher = FailureWatcher(registry, debugging, settings.watch_interval_s) if settings.watch_interval_s else None
    if recorder is not None:
        mcp.mount(provenance_tools(lambda: recorder.writer.store, namespace_guard=_caller))
    add_skills(mcp)
    mcp.add_transform(CompactSchemas())  # every listed input schema as short as the node's
    mcp_app = mcp.http_app(path="/mcp", stateless_http=False)

    own_tool_names: set[str] = set()

    async def refresh_own_tools() -> None:
        own_tool_names.clear()
        # every tool FastMCP serves itself (local, mounted provenance tools), never a node's
        own_tool_names.update(t.name for t in await mcp.list_tools(run_middleware=False)
                              if t.name not in registry.catalog)

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    # the web monitor (docs/monitor.md): reads and acts only through `handler` and `mcp`, as its viewer
    web_monitor = monitor_routes(Backend(handler, lambda: registry.catalog, lambda: own_tool_names, mcp, authenticator))
    starlette = Starlette(routes=[
        Route("/healthz", healthz),
        Mount("/nodes", registry_routes(registry, authenticator)),
        *web_monitor,
        Mount("/", mcp_app),
    ])
    passthrough = McpPassthrough(starlette, authenticator, handler, lambda: registry.catalog,
                                 lambda: own_tool_names, max_json_depth=settings.max_json_depth,
                                 max_json_containers=settings.max_json_containers,
                                 on_unknown_tool=registry.refresh)
    app = transport_edge(passthrough, settings)  # Host/Origin, body limit: before anything is read

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        if database is not None:
            await database.open(upgrade=False)  # the store's tables are not the gateway's
            store.bind(database.shared_engine())
        try:
            await store.upgrade()
            await registry.load()
            await authenticator.load()
            await shared_keys.sync()  # published before the first node can meet this replica's kid
            await refresh_own_tools()
            async with mcp_app.lifespan(mcp_app), anyio.create_task_group() as group:
                group.start_soon(monitor.watch)
                group.start_soon(registry.follow)
                group.start_soon(shared_keys.run)
                if watcher is not None:
                    group.start_soon(watcher.run)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            await clients.aclose()
            if database is not None:
                await database.close()

    return Gateway(app=app, mcp=mcp, registry=registry, store=store, authenticator=authenticator,
                   router=router, observers=observer_list, settings=settings, _lifespan=lifespan())


def _caller() -> Caller:
    principal = current_principal()
    return Caller(user=principal.user, namespaces=principal.namespaces)


def _debug_steps(recorder: Recorder) -> Callable[[Principal], StepObserver]:
    def observer(principal: Principal) -> StepObserver:
        return ProvSteps(Recorder(recorder.writer, stream=f"debug-{uuid.uuid4().hex[:12]}"), principal=principal.user)

    return observer


def freeze_startup_heap() -> None:
    """Move everything alive after start-up out of the garbage collector's sight (``gc.freeze``).

    A full collection walks every tracked object; a started gateway holds hundreds of thousands
    (modules, schemas, the FastMCP server), none of which become garbage, so each full
    collection stalled the event loop by ~150 ms under provenance load (bench/prov_capture.py:
    worst stall 149 ms, 19.5 ms with the heap frozen). Called once by the processes that serve
    (``controlroom gateway serve``, ``controlroom up``), never by a library user or a test
    process that builds many gateways.
    """
    import gc

    gc.collect()
    gc.freeze()


async def serve_gateway(
    settings: GatewaySettings | None = None,
    *,
    gateway: Gateway | None = None,
    ready: Callable[[str], None] | None = None,
    stop: anyio.Event | None = None,
) -> None:
    """Run the gateway with uvicorn until ``stop`` is set (or cancelled); ``ready(base_url)``
    once it accepts calls. ``settings.port`` 0 picks a free port (the URL names it).
    """
    import socket

    import uvicorn

    gateway = gateway or build_gateway(settings)
    settings = gateway.settings
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it a response written in two parts waits ~40 ms for the delayed ACK (measured here).
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(gateway.app, lifespan="off", log_level="warning",
                                           timeout_graceful_shutdown=2,
                                           timeout_keep_alive=KEEP_ALIVE_S))
    stop = stop or anyio.Event()
    async with gateway.lifespan(), anyio.create_task_group() as group:
        group.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:
            await anyio.sleep(0.01)
        if ready is not None:
            ready(f"http://{settings.host}:{port}")
        try:
            await stop.wait()
        finally:
            server.should_exit = True
