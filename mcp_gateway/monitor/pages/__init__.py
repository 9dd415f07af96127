"""One module per page: each gives its routes for `mcp_gateway.monitor.app.monitor_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor


def all_routes(monitor: Monitor) -> list[BaseRoute]:
    from mcp_gateway.monitor.pages import execution, overview, signin, start

    return [*signin.routes(monitor), *overview.routes(monitor), *execution.routes(monitor), *start.routes(monitor)]
