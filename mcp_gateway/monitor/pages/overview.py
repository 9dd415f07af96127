"""Overview: nodes, each namespace's testbed and agents, running and recent executions; live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_gateway.monitor.client import CallFailed, WebCaller
from mcp_gateway.monitor.sessions import Viewer

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor

RECENT = 10


def viewer_namespaces(viewer: Viewer) -> list[str | None]:
    """The namespace filters the viewer's reads use: None (all) for '*', else each granted one."""
    granted = viewer.principal.namespaces
    return [None] if "*" in granted else list(granted)


async def gather(caller: WebCaller, viewer: Viewer) -> dict[str, Any]:
    """Everything the overview shows, read through the call chain as the viewer."""
    problems: list[str] = []
    try:
        nodes = (await caller.call("list_nodes", {"limit": 100}))["items"]
    except CallFailed as error:
        return {"nodes": [], "testbeds": [], "running": [], "recent": [], "problems": [str(error)]}
    testbeds: list[dict[str, Any]] = []
    running: list[dict[str, Any]] = []
    recent: list[dict[str, Any]] = []
    for node in nodes:
        if node["health"] != "up":
            continue
        for namespace in viewer_namespaces(viewer):
            arguments = {"node": node["name"], "namespace": namespace}
            try:
                state = await caller.call("get_system_state", arguments)
                page = await caller.call("list_workflow_executions", {**arguments, "limit": RECENT})
            except CallFailed as error:
                problems.append(f"{node['name']}: {error}")
                continue
            testbeds.extend(state.get("testbeds", []))
            running.extend(state.get("running_executions", []))
            recent.extend(page.get("items", []))
    recent.sort(key=lambda e: e.get("start_time") or "", reverse=True)
    testbeds.sort(key=lambda t: t["namespace"])
    return {"nodes": nodes, "testbeds": testbeds, "running": running, "recent": recent[:RECENT], "problems": problems}


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def fragment(request: Request, viewer: Viewer) -> str:
        data = await gather(monitor.caller(viewer), viewer)
        return monitor.fragment(request, "_overview.html", viewer, **data)

    async def page(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        return monitor.render(request, "overview.html", viewer, body=await fragment(request, viewer))

    async def events(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        async def render(current: Viewer) -> tuple[str, bool]:
            return await fragment(request, current), False

        return monitor.live(request, "overview", render, max(monitor.live_period_s, 1.0))

    return [
        Route("/", monitor.guarded(page), methods=["GET"]),
        Route("/events/overview", monitor.guarded(events, page=False), methods=["GET"]),
    ]
