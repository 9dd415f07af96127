"""A small execution node for the gateway tests and bench: a real FastMCP server with a few
node tools that keep executions in a dict. The real node is `mcp_nodes` (another package);
this one implements the same contract (docs/node-gateway-contract.md):

- MCP at /mcp, streamable HTTP (sessions for direct clients), bearer auth = the gateway's identity JWT;
- GET /healthz; GET /entities/{kind}/{value} -> {"namespace": ...} or 404;
- GET /calls (a test probe, no token): the tools/call requests it received, ``[{"tool", "user"}]``, so tests
  can tell a refusal by the gateway (never forwarded) from a refusal by the node;
- registers with `NodeRegistration` and heartbeats its namespaces.

Identity tokens are checked with the gateway's public keys, which come with the registration
(``--jwks JSON`` adds keys up front, for direct calls without a gateway).

Run: python -m tests.mcp_gateway.sample_node --name n1 --port 0 --gateway URL --token T
It prints ``READY <port>`` on stdout once it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import sys
from typing import Any

import anyio
import uvicorn
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp.types import ToolAnnotations
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from mcp_nodes.contract.identity import LOOKUP_SCOPE, IdentityError, IdentityKeys, node_audience
from mcp_nodes.contract.verifier import IdentityVerifier
from mcp_nodes.contract.registration import NodeInfo, NodeRegistration, NodeStatus

READ_ONLY = ToolAnnotations(readOnlyHint=True)


def _caller() -> tuple[str, list[str]]:
    token = get_access_token()
    claims = token.claims if token is not None else {}
    return str(claims.get("user", "anonymous")), list(claims.get("namespaces") or [])


def _check(namespace: str) -> None:
    user, namespaces = _caller()
    if "*" not in namespaces and namespace not in namespaces:
        raise ToolError(f"namespace {namespace!r} is not granted to {user!r}")


class CallLog(Middleware):
    """Records every tools/call the node receives, before any tool runs or refuses."""

    def __init__(self, calls: list[dict[str, str]]) -> None:
        self.calls = calls

    async def on_call_tool(self, context: MiddlewareContext, call_next: Any) -> Any:
        self.calls.append({"tool": context.message.name, "user": _caller()[0]})
        return await call_next(context)


def build_node(name: str, keys: IdentityKeys) -> tuple[Starlette, FastMCP, dict[str, Any]]:
    """The node's ASGI app, its FastMCP server and its state (namespaces, executions, calls)."""
    state: dict[str, Any] = {"namespaces": set(), "executions": {}, "calls": []}
    # Execution ids must be unique across nodes (the gateway routes by them): each sample node
    # numbers from its own block (n1 -> 1001, n2 -> 2001).
    counter = itertools.count(1000 * int("".join(c for c in name if c.isdigit()) or "0") + 1)
    mcp = FastMCP(f"sample-node-{name}", auth=IdentityVerifier(keys, node_audience(name)))
    mcp.add_middleware(CallLog(state["calls"]))

    @mcp.tool(annotations=READ_ONLY)
    def noop() -> dict[str, Any]:
        """Do nothing (benchmarks)."""
        return {"ok": True}

    @mcp.tool
    def start_testbed(namespace: str, config: str = "default") -> dict[str, Any]:
        """Start the testbed of a namespace on this node."""
        _check(namespace)
        state["namespaces"].add(namespace)
        return {"namespace": namespace, "node": name, "ready": True, "config": config}

    @mcp.tool(annotations=READ_ONLY)
    def get_testbed_status(namespace: str) -> dict[str, Any]:
        """Whether the namespace's testbed runs here."""
        _check(namespace)
        return {"namespace": namespace, "node": name, "ready": namespace in state["namespaces"]}

    @mcp.tool
    def start_workflow(workflow: str, namespace: str, config: str | None = None, realtime: bool = False,
                       parameters: dict[str, Any] | None = None, reason: str | None = None) -> dict[str, Any]:
        """Start a workflow execution in a namespace."""
        _check(namespace)
        user, _ = _caller()
        execution_id = f"{workflow}-{user}-{next(counter):04d}"
        record = {"execution_id": execution_id, "namespace": namespace, "status": "running", "node": name,
                  "workflow": workflow}
        state["executions"][execution_id] = record
        return dict(record)

    def _execution(execution_id: str) -> dict[str, Any]:
        record = state["executions"].get(execution_id)
        if record is None:
            raise ToolError(f"no execution {execution_id!r} on node {name}")
        _check(record["namespace"])
        return record

    @mcp.tool(annotations=READ_ONLY)
    def get_workflow_execution(execution_id: str) -> dict[str, Any]:
        """One execution by id."""
        return dict(_execution(execution_id))

    @mcp.tool(annotations=ToolAnnotations(destructiveHint=True))
    def stop_workflow(execution_id: str) -> dict[str, Any]:
        """Stop an execution."""
        record = _execution(execution_id)
        record["status"] = "terminated"
        return dict(record)

    @mcp.tool(annotations=READ_ONLY)
    async def wait_for_execution(execution_id: str, ctx: Context, timeout_s: float = 10.0,
                                 steps: int = 3) -> dict[str, Any]:
        """Wait for an execution to finish, reporting progress."""
        record = _execution(execution_id)
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step} of {steps}")
            await anyio.sleep(0.01)
        record["status"] = "completed"
        return dict(record)

    @mcp.tool(annotations=READ_ONLY)
    def list_workflow_executions(namespace: str | None = None) -> dict[str, Any]:
        """Executions, filtered to the caller's namespaces."""
        _, granted = _caller()
        items = [dict(r) for r in state["executions"].values()
                 if (namespace is None or r["namespace"] == namespace)
                 and ("*" in granted or r["namespace"] in granted)]
        return {"items": items, "total": len(items), "has_more": False}

    @mcp.tool(annotations=READ_ONLY)
    def big_output(size: int) -> dict[str, Any]:
        """A result of about ``size`` bytes."""
        return {"data": "x" * size}

    @mcp.tool(annotations=READ_ONLY)
    async def sleep_for(seconds: float) -> dict[str, Any]:
        """Sleep, then answer (timeouts, cancellation)."""
        await anyio.sleep(seconds)
        return {"slept": seconds}

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def entity(request: Request) -> JSONResponse:
        try:
            lookup = await keys.verify(request.headers.get("authorization", "")[7:], node_audience(name))
        except IdentityError as error:
            return JSONResponse({"error": str(error)}, status_code=401)
        if LOOKUP_SCOPE not in lookup.scopes:
            return JSONResponse({"error": "the gateway's lookup credential is required"}, status_code=401)
        kind, value = request.path_params["kind"], request.path_params["value"]
        record = state["executions"].get(value) if kind == "execution" else None
        if record is None:
            return JSONResponse({"error": "unknown"}, status_code=404)
        return JSONResponse({"namespace": record["namespace"]})

    async def calls(_: Request) -> JSONResponse:  # a test probe on loopback: no token, so it
        return JSONResponse(state["calls"])     # does not depend on the identity scheme

    mcp_app = mcp.http_app(path="/mcp")  # stateful, like mcp_nodes: the gateway forwards in the stateless era
    app = Starlette(routes=[Route("/healthz", healthz), Route("/entities/{kind}/{value}", entity),
                            Route("/calls", calls),
                            Mount("/", mcp_app)], lifespan=lambda _: mcp_app.lifespan(mcp_app))
    return app, mcp, state


async def tool_dicts(mcp: FastMCP) -> list[dict[str, Any]]:
    """The node's tools as MCP tool objects (what it registers)."""
    return [t.to_mcp_tool().model_dump(by_alias=True, mode="json", exclude_none=True)
            for t in await mcp.list_tools()]


async def serve(name: str, port: int, gateway: str | None, token: str | None, jwks: dict[str, Any] | None,
                namespaces: list[str], labels: dict[str, str], interval: float) -> None:
    keys = IdentityKeys(jwks)
    app, mcp, state = build_node(name, keys)
    state["namespaces"].update(namespaces)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, see serve_gateway
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    info = NodeInfo(name=name, url=f"http://127.0.0.1:{port}/mcp", labels=labels,
                    namespaces=sorted(state["namespaces"]), tools=await tool_dicts(mcp))
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:
            await anyio.sleep(0.01)
        if gateway and token:
            status = lambda: NodeStatus(load=len(state["executions"]), namespaces=sorted(state["namespaces"]))
            async with NodeRegistration(gateway, token, info, interval, status=status, keys=keys) as registration:
                await registration.wait_registered(30)
                print(f"READY {port}", flush=True)
                await anyio.sleep_forever()
        print(f"READY {port}", flush=True)
        await anyio.sleep_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--gateway")
    parser.add_argument("--token")
    parser.add_argument("--jwks", type=json.loads, default=None, help="public keys accepted before registering")
    parser.add_argument("--namespaces", default="")
    parser.add_argument("--labels", default="")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    labels = dict(item.split("=", 1) for item in args.labels.split(",") if item)
    namespaces = [n for n in args.namespaces.split(",") if n]
    try:
        asyncio.run(serve(args.name, args.port, args.gateway, args.token, args.jwks, namespaces,
                          labels, args.interval))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
