"""Debugging: debug an execution or a testbed (``debug_execution``), see each session's steps
(evidence, diagnosis with rationale, alternatives, decision, action, verification), and approve
or reject the fixes the policy sent to a person (``list_pending_fixes``, ``approve_fix``,
``reject_fix``: the ASK gate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_gateway.monitor.client import CallFailed
from mcp_gateway.monitor.sessions import Viewer

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def show(request: Request, viewer: Viewer, *, reports: list[dict[str, Any]] | None = None,
                   problem: str | None = None, status: int = 200) -> Response:
        try:
            pending = (await monitor.caller(viewer).call("list_pending_fixes", {}))["items"]
        except CallFailed as error:
            pending, problem = [], problem or str(error)
        return monitor.render(request, "debugging.html", viewer, status_code=status, pending=pending,
                              reports=reports or [], problem=problem)

    async def page(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        return await show(request, viewer)

    async def debug(request: Request, viewer: Viewer, form: FormData | None) -> Response:
        target = {k: str((form or {}).get(k) or "").strip() or None for k in ("execution_id", "namespace")}
        if not any(target.values()):
            return await show(request, viewer, status=400, problem="give an execution id or a namespace to debug")
        try:
            report = await monitor.caller(viewer).call("debug_execution", target)
        except CallFailed as error:
            return await show(request, viewer, status=400, problem=str(error))
        return await show(request, viewer, reports=[report])

    async def approve(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        approval_id = request.path_params["approval_id"]
        try:
            report = await monitor.caller(viewer).call("approve_fix", {"approval_id": approval_id})
        except CallFailed as error:
            return await show(request, viewer, status=400, problem=str(error))
        return await show(request, viewer, reports=[report])

    async def reject(request: Request, viewer: Viewer, form: FormData | None) -> Response:
        approval_id = request.path_params["approval_id"]
        reason = str((form or {}).get("reason") or "").strip() or "rejected in the web monitor"
        try:
            report = await monitor.caller(viewer).call("reject_fix", {"approval_id": approval_id, "reason": reason})
        except CallFailed as error:
            return await show(request, viewer, status=400, problem=str(error))
        return await show(request, viewer, reports=[report])

    return [
        Route("/debugging", monitor.guarded(page), methods=["GET"]),
        Route("/debugging/{approval_id}/reject", monitor.guarded(reject, changes=True), methods=["POST"]),
        Route("/debugging/debug", monitor.guarded(debug, changes=True), methods=["POST"]),
        Route("/debugging/{approval_id}/approve", monitor.guarded(approve, changes=True), methods=["POST"]),
    ]
