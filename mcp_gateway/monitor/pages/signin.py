"""Sign in (paste a token), sign out."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_gateway.errors import AuthError
from mcp_gateway.monitor.app import ui_root
from mcp_gateway.monitor.sessions import (
    COOKIE_PATH, SESSION_COOKIE, SIGNIN_COOKIE, CsrfRefused, Viewer, check_signin_csrf, set_cookie,
)

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor


def _next(request: Request, value: str | None) -> str:
    """Only a path inside the monitor (never another site)."""
    root = ui_root(request)
    if value and value.startswith(root + "/") and not value.startswith("//"):
        return value
    return root + "/"


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def form(request: Request, error: str | None = None, status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = monitor.render(request, "signin.html", None, status_code=status, csrf=token, error=error,
                                  next=_next(request, request.query_params.get("next")))
        set_cookie(response, request, SIGNIN_COOKIE, token, max_age=3600)
        return response

    async def show(request: Request) -> Response:
        return await form(request)

    async def sign_in(request: Request) -> Response:
        data = await request.form()
        try:
            check_signin_csrf(request, data)
        except CsrfRefused as error:
            return await form(request, str(error), status=403)
        token = str(data.get("token") or "").strip()
        if not token:
            return await form(request, "paste a token (controlroom token create, or the one `controlroom up` printed)", 400)
        try:
            session_id = await monitor.sessions.sign_in(token)
        except AuthError as error:
            return await form(request, str(error), status=401)
        response = RedirectResponse(_next(request, str(data.get("next") or "")), status_code=303)
        set_cookie(response, request, SESSION_COOKIE, session_id)
        response.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)
        return response

    async def sign_out(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        monitor.sessions.sign_out(viewer.session_id)
        response = RedirectResponse(f"{ui_root(request)}/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    return [
        Route("/signin", show, methods=["GET"]),
        Route("/signin", sign_in, methods=["POST"]),
        Route("/signout", monitor.guarded(sign_out, changes=True), methods=["POST"]),
    ]
