"""Logs: filters (namespace, agent, level, text, time range, execution) and cursor paging over
``list_logs``, newest first; each filter's error beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_gateway.monitor.client import CallFailed
from mcp_gateway.monitor.forms import place
from mcp_gateway.monitor.sessions import Viewer

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor

FILTERS = ("namespace", "agent", "level", "search", "start_time", "end_time", "execution_id", "node")
LEVELS = ("", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PAGE_SIZES = (20, 50, 100, 200)


def _time(name: str, value: str, errors: dict[str, str]) -> str | None:
    """An ISO time (UTC) from a datetime-local or ISO value; an error beside the field otherwise."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors[name] = f"{name} must be a date and time like 2026-11-30T09:15, not {value!r}"
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def arguments_of(values: dict[str, str], viewer: Viewer) -> tuple[dict[str, Any], dict[str, str]]:
    """list_logs arguments from the query string, and errors by field."""
    errors: dict[str, str] = {}
    arguments: dict[str, Any] = {k: values.get(k) or None for k in ("namespace", "agent", "search", "execution_id", "node")}
    if arguments["namespace"] is None and "*" not in viewer.principal.namespaces and len(viewer.principal.namespaces) > 1:
        errors["namespace"] = f"choose one of your namespaces: {', '.join(viewer.principal.namespaces)}"
    level = values.get("level") or ""
    if level not in LEVELS:
        errors["level"] = f"level must be one of {', '.join(l for l in LEVELS if l)}"
    arguments["level"] = level or None
    arguments["start_time"] = _time("start_time", values.get("start_time", ""), errors)
    arguments["end_time"] = _time("end_time", values.get("end_time", ""), errors)
    try:
        limit = int(values.get("limit") or 50)
    except ValueError:
        limit = 0
    if limit not in PAGE_SIZES:
        errors["limit"] = f"limit must be one of {', '.join(map(str, PAGE_SIZES))}"
    arguments["limit"] = limit
    arguments["cursor"] = values.get("cursor") or None
    return arguments, errors


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def page(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        values = {k: v.strip() for k, v in request.query_params.items()}
        arguments, errors = arguments_of(values, viewer)
        logs: dict[str, Any] = {"items": [], "total": 0, "has_more": False}
        problem = None
        if not errors:
            try:
                logs = await monitor.caller(viewer).call("list_logs", arguments)
            except CallFailed as error:
                field = place(str(error), list(FILTERS) + ["limit", "cursor"])
                if field is not None and field != "cursor":
                    errors[field] = str(error)
                else:
                    problem = str(error)
        kept = {k: values[k] for k in (*FILTERS, "limit") if values.get(k)}
        next_page = f"?{urlencode({**kept, 'cursor': logs['next_cursor']})}" if logs.get("next_cursor") else None
        first_page = f"?{urlencode(kept)}" if values.get("cursor") else None
        return monitor.render(request, "logs.html", viewer, status_code=400 if errors else 200, values=values,
                              errors=errors, problem=problem, logs=logs, levels=LEVELS, page_sizes=PAGE_SIZES,
                              next_page=next_page, first_page=first_page)

    return [Route("/logs", monitor.guarded(page), methods=["GET"])]
