"""One module per page: each gives its routes for `mcp_gateway.monitor.app.monitor_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor


def all_routes(monitor: Monitor) -> list[BaseRoute]:
    from mcp_gateway.monitor.pages import characterization, debugging, execution, lineage, logs, overview, signin, start

    # characterization before execution: its paths are longer than /executions/{execution_id}
    return [*signin.routes(monitor), *overview.routes(monitor), *characterization.routes(monitor),
            *execution.routes(monitor), *start.routes(monitor), *debugging.routes(monitor),
            *logs.routes(monitor), *lineage.routes(monitor)]
