"""Execution: status, DAQ phase band, STF / TF sample / slice counters, throughput and worker pool
over time, recent events and errors; live while it runs; the stop button."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_gateway.monitor.app import ui_root
from mcp_gateway.monitor.client import CallFailed
from mcp_gateway.monitor.filters import parse_time
from mcp_gateway.monitor.sessions import Viewer

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor

TERMINAL = frozenset({"completed", "failed", "terminated"})
MAX_SAMPLES = 600


def phase_segments(monitor: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(phase, start s, end s) from the execution's DAQ state events, seconds from its start."""
    start = parse_time(monitor["start_time"])
    events = sorted(monitor.get("recent_events", []), key=lambda e: (e["timestamp"], e["id"]))
    if start is None or not events:
        return []
    end = float(monitor.get("duration_s") or 0.0)
    segments = []
    for here, after in zip(events, [*events[1:], None], strict=False):
        begin = (parse_time(here["timestamp"]) - start).total_seconds()  # type: ignore[operator]
        stop = (parse_time(after["timestamp"]) - start).total_seconds() if after else end  # type: ignore[operator]
        label = f"{here['state']}/{here['substate']}" if here.get("substate") else here["state"]
        segments.append((label, max(begin, 0.0), max(stop, begin)))
    return segments


class Samples:
    """What one open page has seen over time: slices done per second, slice latency p50, the worker pool."""

    def __init__(self) -> None:
        self.throughput: list[tuple[float, float]] = []
        self.latency: list[tuple[float, float]] = []
        self.workers: list[tuple[float, float]] = []
        self._last: tuple[float, int] | None = None

    def add(self, monitor: dict[str, Any]) -> None:
        t = float(monitor.get("duration_s") or 0.0)
        done = int(monitor.get("slices", {}).get("done", 0))
        if self._last is not None and t > self._last[0]:
            self.throughput.append((t, round((done - self._last[1]) / (t - self._last[0]), 2)))
        if self._last is None or t > self._last[0]:
            self._last = (t, done)
            if monitor.get("workers_active") is not None:
                self.workers.append((t, float(monitor["workers_active"])))
            if monitor.get("slice_latency_p50_ms") is not None:
                self.latency.append((t, round(float(monitor["slice_latency_p50_ms"]), 1)))
        del self.throughput[:-MAX_SAMPLES], self.latency[:-MAX_SAMPLES], self.workers[:-MAX_SAMPLES]


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def fragment(request: Request, viewer: Viewer, execution_id: str, samples: Samples) -> tuple[str, bool]:
        try:
            data = await monitor.caller(viewer).call("get_workflow_monitor", {"execution_id": execution_id})
        except CallFailed as error:
            return monitor.fragment(request, "_problem.html", viewer, problem=str(error)), False
        samples.add(data)
        html = monitor.fragment(request, "_execution.html", viewer, m=data, segments=phase_segments(data),
                                samples=samples, terminal=data["status"] in TERMINAL)
        return html, data["status"] in TERMINAL

    async def page(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        execution_id = request.path_params["execution_id"]
        body, _settled = await fragment(request, viewer, execution_id, Samples())
        return monitor.render(request, "execution.html", viewer, execution_id=execution_id, body=body)

    async def events(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        execution_id = request.path_params["execution_id"]
        samples = Samples()

        async def render(current: Viewer) -> tuple[str, bool]:
            return await fragment(request, current, execution_id, samples)

        return monitor.live(request, "execution", render)

    async def stop(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        execution_id = request.path_params["execution_id"]
        try:
            await monitor.caller(viewer).call("stop_workflow", {"execution_id": execution_id,
                                                                "reason": "stopped from the web monitor"})
        except CallFailed as error:
            return monitor.render(request, "execution.html", viewer, execution_id=execution_id, status_code=400,
                                  body=monitor.fragment(request, "_problem.html", viewer, problem=str(error)))
        return RedirectResponse(f"{ui_root(request)}/executions/{execution_id}", status_code=303)

    return [
        Route("/executions/{execution_id}", monitor.guarded(page), methods=["GET"]),
        Route("/events/executions/{execution_id}", monitor.guarded(events, page=False), methods=["GET"]),
        Route("/executions/{execution_id}/stop", monitor.guarded(stop, changes=True), methods=["POST"]),
    ]
