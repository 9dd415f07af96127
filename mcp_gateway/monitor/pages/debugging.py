"""Debugging: debug an execution or a testbed (``debug_execution``), see each session's steps
(evidence, diagnosis with rationale, alternatives, decision, action, verification), approve
or reject the fixes the policy sent to a person (``list_pending_fixes``, ``approve_fix``,
``reject_fix``: the ASK gate), and page through the past sessions the viewer may see
(``list_debug_sessions``, newest first, optionally of one namespace)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_gateway.monitor.client import CallFailed
from mcp_gateway.monitor.sessions import Viewer

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor

PAGE = 10


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def show(request: Request, viewer: Viewer, *, reports: list[dict[str, Any]] | None = None,
                   problem: str | None = None, status: int = 200) -> Response:
        caller = monitor.caller(viewer)
        try:
            pending = (await caller.call("list_pending_fixes", {}))["items"]
        except CallFailed as error:
            pending, problem = [], problem or str(error)
        namespace = request.query_params.get("namespace", "").strip() or None
        try:
            past = await caller.call("list_debug_sessions", {"namespace": namespace, "limit": PAGE,
                                                             "cursor": request.query_params.get("cursor") or None})
        except CallFailed as error:
            past, problem = {"items": [], "total": 0}, problem or str(error)
        kept = {"namespace": namespace} if namespace else {}
        older = f"?{urlencode({**kept, 'cursor': past['next_cursor']})}" if past.get("next_cursor") else None
        newest = f"?{urlencode(kept)}" if request.query_params.get("cursor") else None
        return monitor.render(request, "debugging.html", viewer, status_code=status, pending=pending,
                              reports=reports or [], problem=problem, past=past, namespace=namespace or "",
                              older=older, newest=newest)

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
