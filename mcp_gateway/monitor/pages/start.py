"""Start a testbed and a workflow from forms; each error shown beside its field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_gateway.monitor.app import ui_root
from mcp_gateway.monitor.client import CallFailed, WebCaller
from mcp_gateway.monitor.forms import Field, definition_fields, parse, place
from mcp_gateway.monitor.sessions import Viewer

if TYPE_CHECKING:
    from mcp_gateway.monitor.app import Monitor

TESTBED_FIELDS = ["namespace", "config"]
WORKFLOW_FIELDS = ["namespace", "workflow", "config", "realtime"]


async def definitions(caller: WebCaller, namespace: str | None) -> list[dict[str, Any]]:
    try:
        return (await caller.call("list_workflow_definitions", {"namespace": namespace, "sections": True}))["items"]
    except CallFailed:
        return []


def default_namespace(viewer: Viewer) -> str:
    granted = [n for n in viewer.principal.namespaces if n != "*"]
    return granted[0] if granted else ""


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def show(request: Request, viewer: Viewer, *, status: int = 200, values: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None, started: str | None = None) -> Response:
        values = values or {}
        namespace = values.get("namespace") or request.query_params.get("namespace") or default_namespace(viewer)
        defs = await definitions(monitor.caller(viewer), namespace or None)
        chosen = values.get("workflow") or request.query_params.get("workflow") or "stf_datataking"
        definition = next((d for d in defs if d["name"] == chosen), defs[0] if defs else None)
        spec: list[Field] = definition_fields(definition) if definition else []
        return monitor.render(request, "start.html", viewer, status_code=status, values=values, errors=errors or {},
                              namespace=namespace, definitions=defs, definition=definition, fields=spec,
                              started=started)

    async def page(request: Request, viewer: Viewer, _: FormData | None) -> Response:
        return await show(request, viewer, started=request.query_params.get("started"))

    async def start_testbed(request: Request, viewer: Viewer, form: FormData | None) -> Response:
        values = {k: str(v) for k, v in (form or {}).items() if k != "csrf"}
        namespace, config = values.get("namespace", "").strip(), values.get("config", "").strip() or "testbed"
        if not namespace:
            return await show(request, viewer, status=400, values=values,
                              errors={"testbed.namespace": "namespace is required (one of your namespaces)"})
        try:
            await monitor.caller(viewer).call("start_testbed", {"namespace": namespace, "config": config,
                                                                "reason": "started from the web monitor"})
        except CallFailed as error:
            field = place(str(error), TESTBED_FIELDS) or "namespace"
            return await show(request, viewer, status=400, values=values, errors={f"testbed.{field}": str(error)})
        return RedirectResponse(f"{ui_root(request)}/start?namespace={namespace}&started=testbed", status_code=303)

    async def start_workflow(request: Request, viewer: Viewer, form: FormData | None) -> Response:
        values = {k: str(v) for k, v in (form or {}).items() if k != "csrf"}
        caller = monitor.caller(viewer)
        namespace = values.get("namespace", "").strip()
        workflow = values.get("workflow", "").strip() or "stf_datataking"
        errors: dict[str, str] = {}
        if not namespace:
            errors["namespace"] = "namespace is required (one of your namespaces)"
        defs = await definitions(caller, namespace or None)
        definition = next((d for d in defs if d["name"] == workflow), None)
        if definition is None and defs:
            errors["workflow"] = f"workflow {workflow!r} is not offered in {namespace!r}"
        spec = definition_fields(definition) if definition else []
        parameters, field_errors = parse(spec, values)
        errors.update({f"p.{k}": v for k, v in field_errors.items()})
        if errors:
            return await show(request, viewer, status=400, values=values, errors=errors)
        arguments = {"namespace": namespace, "workflow": workflow, "config": values.get("config") or None,
                     "realtime": values.get("realtime") == "on", "parameters": parameters or None,
                     "reason": "started from the web monitor"}
        try:
            started = await caller.call("start_workflow", arguments)
        except CallFailed as error:
            names = WORKFLOW_FIELDS + [f.name for f in spec]
            field = place(str(error), names) or "namespace"
            key = f"p.{field}" if field not in WORKFLOW_FIELDS else field
            return await show(request, viewer, status=400, values=values, errors={key: str(error)})
        return RedirectResponse(f"{ui_root(request)}/executions/{started['execution_id']}", status_code=303)

    return [
        Route("/start", monitor.guarded(page), methods=["GET"]),
        Route("/start/testbed", monitor.guarded(start_testbed, changes=True), methods=["POST"]),
        Route("/start/workflow", monitor.guarded(start_workflow, changes=True), methods=["POST"]),
    ]
