"""`build_node`: assemble the execution node's FastMCP server in one place.

What wraps what, outermost first: bearer auth (node token or gateway identity JWT) ->
error translation (every failure an ``isError`` with field and fix) -> the scope check
(`mcp_nodes.capabilities`) -> the tools. Two plain
HTTP routes sit beside ``/mcp`` for the gateway: ``GET /healthz`` (no auth) and
``GET /entities/{kind}/{value}`` (which namespace owns an execution, run, agent, STF file, TF file
(by its slices) or log entry: the kinds `mcp_gateway.routing` asks for; the node token
or the gateway's lookup credential for this node only, never a caller's identity).

Example::

    async with node_runtime(settings) as runtime:
        mcp = build_node(settings, store=runtime.store, manager=runtime.manager)
        app = mcp.http_app(path="/mcp")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from mcp_nodes.auth import NodeTokenVerifier
from mcp_nodes.capabilities import CapabilityCheck
from mcp_nodes.edge import ErrorTranslation
from mcp_nodes.services import NodeServices
from mcp_nodes.settings import NodeSettings
from mcp_nodes.tools import register_all, spec
from mcp_nodes.compact import CompactSchemas
from mcp_nodes.version import node_version

if TYPE_CHECKING:
    from agents.testbed.testbed import TestbedManager
    from workflows.store.store import Store

__all__ = ["INSTRUCTIONS", "build_node"]

INSTRUCTIONS = """\
This is a controlroom execution node: it runs streaming-workflow testbeds (sets of agents:
DAQ simulator, data, processing, fastmon, fast processing, slice workers) and workflows on them.

Order of work:
1. get_system_state: what runs here, what is ready, recent errors.
2. start_testbed(namespace) once per namespace, then get_testbed_status(namespace) until ready=true.
3. list_workflow_definitions for workflow names, configs and the parameter schema.
4. start_workflow(namespace, workflow, config, parameters) -> execution_id.
5. wait_for_execution(execution_id, timeout_s): it returns when the execution ends and sends
   progress meanwhile. NEVER sleep and poll; if it returns finished=false, call it again.
6. get_workflow_monitor (counts, latency) / get_workflow_execution (include_config=true adds the
   config); list_logs(execution_id=..., level='ERROR') to debug; stop_workflow / stop_testbed.

Results lead with status and a hint (the next step); big parts come on request. Lists return
a small page, newest first, with total and next_cursor (pass it back as cursor); filter rather
than page. Times are ISO-8601 (UTC). Pass reason (your intent) to control tools. You only see
and act on the namespaces your token grants. A rejected call changes nothing; its message names
the field and the fix.
"""


def build_node(settings: NodeSettings, *, store: Store, manager: TestbedManager,
               services: NodeServices | None = None) -> FastMCP:
    """The node's FastMCP server over ``store`` and ``manager`` (both already open)."""
    services = services or NodeServices(settings=settings, store=store, manager=manager)
    token = settings.token.get_secret_value() if settings.token is not None else None
    keys = services.identity_keys
    if settings.identity_jwks is not None:
        keys.update(settings.identity_jwks)
    verifier = (NodeTokenVerifier(node_token=token, keys=keys, node_name=settings.name)
                if token is not None or settings.identity_jwks is not None else None)
    schemas: dict[str, dict[str, Any]] = {}

    @asynccontextmanager
    async def lifespan(server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        schemas.update(await input_schemas(server))
        yield {}

    mcp = FastMCP(
        name=f"controlroom-node-{settings.name}",
        lifespan=lifespan,
        instructions=INSTRUCTIONS,
        version=node_version(),
        auth=verifier,
        middleware=[ErrorTranslation(), CapabilityCheck()],
        mask_error_details=False,
        on_duplicate="error",
    )
    register_all(mcp, services)
    spec.register(mcp, services)  # spec_validate, spec_generate, register_workflow_definition
    mcp.add_transform(CompactSchemas())  # listed input schemas without pydantic's null branches
    # mcp 2.3's stateless (2026-07-28) path validates Mcp-Param headers against the called
    # tool's input schema; without a lookup it runs a whole tools/list per tools/call
    # (measured: ~65 ms of a 70 ms call with our 28 tools). The tool list is static: cache it.
    mcp._mcp_server.get_tool_input_schema = schemas.get
    _add_routes(mcp, services, verifier)
    return mcp


async def input_schemas(mcp: FastMCP) -> dict[str, dict[str, Any]]:
    """Each tool's advertised inputSchema, by tool name."""
    return {tool.name: tool.to_mcp_tool().model_dump(mode="json", by_alias=True)["inputSchema"]
            for tool in await mcp.list_tools(run_middleware=False)}


def _add_routes(mcp: FastMCP, services: NodeServices, verifier: NodeTokenVerifier | None) -> None:
    store = services.store

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    @mcp.custom_route("/entities/{kind}/{value}", methods=["GET"])
    async def entity_owner(request: Request) -> Response:
        if verifier is not None:
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else ""
            if not token or not await verifier.verify_lookup(token):
                return JSONResponse({"error": "the gateway's lookup credential for this node (or the node token) "
                                              "is required"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        kind, value = request.path_params["kind"], request.path_params["value"]
        namespace = await _owner_namespace(store, kind, value)
        if namespace is None:
            return JSONResponse({"error": f"no {kind} {value!r} on this node"}, status_code=404)
        return JSONResponse({"kind": kind, "value": value, "namespace": namespace})


async def _owner_namespace(store: Store, kind: str, value: str) -> str | None:
    """The namespace of an entity this node holds, or None."""
    from workflows.store.errors import NotFound

    try:
        if kind == "execution":
            return (await store.executions.get(value)).namespace
        if kind == "run" and value.isdigit():
            return (await store.runs.get_run(int(value))).namespace
        if kind == "agent":
            return (await store.agents.get_agent(value)).namespace
        if kind == "stf":
            return (await store.runs.get_stf(value)).namespace
        if kind == "tf":  # a TF file's slices (get_tf_slice routes by the TF file)
            page = await store.runs.list_slices(tf_filename=value, limit=1)
            return page.items[0].namespace if page.items else None
        if kind == "log" and value.isdigit():
            return (await store.logs.get_log(int(value))).namespace
    except NotFound:
        return None
    return None
