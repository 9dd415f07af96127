"""Provenance: the lineage of an execution, run or file as a graph (prov_lineage, upstream or
downstream), each node linking to its own lineage, the path's records, and the chains' verify."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_gateway.monitor.app import ui_root
from mcp_gateway.monitor.client import CallFailed
from mcp_gateway.monitor.graph import entity_link, lineage_svg
from mcp_gateway.monitor.sessions import Viewer

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def page(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        entity = request.query_params.get("entity", "").strip()
        direction = request.query_params.get("direction", "upstream")
        if direction not in ("upstream", "downstream"):
            direction = "upstream"
        caller = monitor.caller(viewer)
        result: dict[str, Any] | None = None
        problem = None
        if entity:
            try:
                result = await caller.call("prov_lineage", {"entity": entity, "direction": direction})
            except CallFailed as error:
                problem = str(error)
        try:
            verify = await caller.call("prov_verify", {})
        except CallFailed as error:
            verify = {"error": str(error)}
        graph = lineage_svg(result["edges"], entity, entity_link(ui_root(request), direction)) \
            if result and result.get("found") else None
        return monitor.render(request, "lineage.html", viewer, status_code=400 if problem else 200, entity=entity,
                              direction=direction, result=result, graph=graph, verify=verify, problem=problem)

    return [Route("/lineage", monitor.guarded(page), methods=["GET"])]
