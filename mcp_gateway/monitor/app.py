"""The web monitor's ASGI app, mounted by the gateway at ``/ui`` (`mcp_gateway.server.build_gateway`).

Every page and action is a route of one page module (`mcp_gateway.monitor.pages`); `guarded`
wraps each one: no session → the sign-in page (a page) or 401 (a fragment, a feed, a download);
a change → its CSRF token first. Data comes only from `mcp_gateway.monitor.client.WebCaller`,
the gateway's call chain acting for the signed-in person.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_gateway.monitor.client import Backend, WebCaller
from mcp_gateway.monitor.live import feed
from mcp_gateway.monitor.sessions import COOKIE_PATH, CsrfRefused, Sessions, Viewer, check_csrf

HERE = Path(__file__).parent
HTMX = "vendor/htmx-2.0.11.min.js"
HTMX_SSE = "vendor/htmx-ext-sse-2.2.4.min.js"
SIGNED_OUT = '<p class="problem">Signed out: <a href="/ui/signin">sign in again</a>.</p>'

Endpoint = Callable[[Request, Viewer, FormData | None], Awaitable[Response]]


@dataclass
class Monitor:
    """What every page shares: the gateway's call chain, the sessions, the templates, the live period."""

    backend: Backend
    sessions: Sessions
    templates: Jinja2Templates
    live_period_s: float = 0.5

    def caller(self, viewer: Viewer) -> WebCaller:
        return WebCaller(self.backend, viewer.principal)

    def render(self, request: Request, name: str, viewer: Viewer | None, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(
            request, name, {"viewer": viewer, "ui": ui_root(request), "htmx": HTMX, "htmx_sse": HTMX_SSE, **context},
            status_code=status_code, headers={"cache-control": "no-store"})

    def fragment(self, request: Request, name: str, viewer: Viewer, **context: Any) -> str:
        """A template rendered to HTML, for a page's live part and its feed."""
        return self.templates.get_template(name).render(viewer=viewer, ui=ui_root(request), **context)

    def live(self, request: Request, event: str, render: Callable[[Viewer], Awaitable[tuple[str, bool]]],
             period_s: float | None = None) -> Response:
        """An SSE feed of ``render``'s fragment; the session is checked again on every tick, so a
        signed-out or revoked viewer's feed stops carrying data at once."""

        async def tick() -> tuple[str, bool]:
            viewer = await self.sessions.viewer(request)
            if viewer is None:
                return SIGNED_OUT, True
            return await render(viewer)

        return feed(tick, event, period_s or self.live_period_s)

    def guarded(self, endpoint: Endpoint, *, changes: bool = False, page: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """``endpoint`` for signed-in viewers only; ``changes`` requires the session's CSRF token."""

        async def route(request: Request) -> Response:
            viewer = await self.sessions.viewer(request)
            if viewer is None:
                if page and request.method == "GET" and "hx-request" not in request.headers:
                    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                    return RedirectResponse(f"{ui_root(request)}/signin?next={target}", status_code=303)
                return PlainTextResponse("sign in first: open the monitor's sign-in page, or send "
                                         "'Authorization: Bearer <token>'", status_code=401)
            form = None
            if changes:
                form = await request.form()
                try:
                    check_csrf(viewer, request, form)
                except CsrfRefused as error:
                    return PlainTextResponse(str(error), status_code=403)
            return await endpoint(request, viewer, form)

        return route


def ui_root(request: Request) -> str:
    """The path the monitor is mounted at (``/ui``)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def monitor_routes(backend: Backend, path: str = COOKIE_PATH) -> list[BaseRoute]:
    """What the gateway mounts: the monitor at ``path`` (``/ui``), and ``/ui`` itself redirected to ``/ui/``."""

    async def to_slash(_: Request) -> Response:
        return RedirectResponse(f"{path}/", status_code=307)

    return [Route(path, to_slash), Mount(path, monitor_app(backend))]


def monitor_app(backend: Backend, *, live_period_s: float = 0.5) -> Starlette:
    """The monitor: pages, fragments, live feeds and static files (htmx shipped in the package)."""
    from mcp_gateway.monitor.pages import all_routes

    from mcp_gateway.monitor import charts
    from mcp_gateway.monitor.filters import FILTERS

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(charts=charts)
    templates.env.filters.update(FILTERS)
    monitor = Monitor(backend, Sessions(backend.authenticator), templates, live_period_s)
    routes: list[BaseRoute] = [*all_routes(monitor), Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]
    return Starlette(routes=routes, middleware=[Middleware(ServerTiming)])


class ServerTiming:
    """Adds ``Server-Timing: app;dur=MS`` to every response: the time from the request's arrival
    to its headers (a page is rendered by then; for a live feed it is the time to open it).
    Browsers show it (``performance.getEntriesByType("navigation")[0].serverTiming``); bench/monitor.py reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                duration = (time.perf_counter() - started) * 1000
                message["headers"] = [*message.get("headers", []), (b"server-timing", f"app;dur={duration:.2f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)
