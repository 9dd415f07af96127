"""Characterization of an execution: time per DAQ phase, slices, the latency histogram, queue wait,
per-worker processing time, a task workflow's wall-to-compute, with
CSV and JSON downloads (`agents.testbed.statistics`, the same table `controlroom workflow stats`
prints)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agents.testbed.statistics import Characterization, bin_label, characterize
from mcp_gateway.monitor.client import CallFailed
from mcp_gateway.monitor.sessions import Viewer

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def read(viewer: Viewer, execution_id: str) -> Characterization:
        return await characterize(monitor.caller(viewer), execution_id)

    async def page(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        execution_id = request.path_params["execution_id"]
        try:
            stats = await read(viewer, execution_id)
        except CallFailed as error:
            return monitor.render(request, "characterization.html", viewer, status_code=404,
                                  execution_id=execution_id, stats=None, problem=str(error))
        workers = [(w.worker, float(w.slices_done)) for w in stats.workers]
        busy = [(w.worker, w.processing_s) for w in stats.workers]
        busy += [(w.worker, w.compute_s) for w in stats.tasks.workers] if stats.tasks else []
        histogram = [(bin_label(b), b.count) for b in stats.latency_histogram]
        return monitor.render(request, "characterization.html", viewer, execution_id=execution_id, stats=stats,
                              rows=stats.rows(), phases=list(stats.phases.items()), workers=workers, busy=busy,
                              histogram=histogram, problem=None)

    async def download(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        execution_id, kind = request.path_params["execution_id"], request.path_params["kind"]
        if kind not in ("csv", "json"):
            return JSONResponse({"error": f"no stats.{kind}: stats.csv or stats.json"}, status_code=404)
        try:
            stats = await read(viewer, execution_id)
        except CallFailed as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        filename = f"{execution_id}-stats.{kind}"
        disposition = {"content-disposition": f'attachment; filename="{filename}"', "cache-control": "no-store"}
        if kind == "csv":
            return Response(stats.csv(), media_type="text/csv", headers=disposition)
        return Response(stats.model_dump_json(indent=2), media_type="application/json", headers=disposition)

    return [
        Route("/executions/{execution_id}/stats", monitor.guarded(page), methods=["GET"]),
        Route("/executions/{execution_id}/stats.{kind:str}", monitor.guarded(download, page=False), methods=["GET"]),
    ]
