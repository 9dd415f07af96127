"""The fix catalog: what each fix does, its scope, and how it is applied through tools.

Scopes grow from the smallest blast radius to the largest: agent < execution < testbed < node.
The policy gate (``policy``) decides per scope and per fix whether a fix runs by itself (AUTO),
waits for a human (ASK) or is only reported (STOP). ``report_only`` changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from agents.ai.debugger.evidence import Evidence, ToolCaller
from agents.ai.debugger.rules import FixProposal

Scope = Literal["none", "agent", "execution", "testbed", "node"]


@dataclass(frozen=True)
class Fix:
    name: str
    scope: Scope
    description: str
    apply: Callable[[ToolCaller, FixProposal, Evidence], Awaitable[dict[str, Any]]]


async def _restart_agent(tools: ToolCaller, proposal: FixProposal, ev: Evidence) -> dict[str, Any]:
    return await tools.call("restart_agent", {"name": proposal.arguments["name"], "reason": "debugger: agent crashed"})


async def _scale_workers(tools: ToolCaller, proposal: FixProposal, ev: Evidence) -> dict[str, Any]:
    return await tools.call(
        "send_message",
        {
            "namespace": proposal.arguments.get("namespace") or ev.namespace,
            "msg_type": "scale_workers",
            "body": {"count": proposal.arguments["count"]},
            "reason": "debugger: slice backlog",
        },
    )


async def _end_execution(tools: ToolCaller, proposal: FixProposal, ev: Evidence) -> dict[str, Any]:
    return await tools.call(
        "stop_workflow", {"execution_id": proposal.arguments.get("execution_id") or ev.execution_id, "reason": "debugger: stuck execution"}
    )


async def _rerun_with_parameter(tools: ToolCaller, proposal: FixProposal, ev: Evidence) -> dict[str, Any]:
    execution = ev.execution or {}
    parameters = dict(ev.parameters)
    if "parameter" in proposal.arguments and "value" in proposal.arguments:
        parameters[proposal.arguments["parameter"]] = proposal.arguments["value"]
    return await tools.call(
        "start_workflow",
        {
            "workflow": execution.get("workflow_name", "stf_datataking"),
            "config": proposal.arguments.get("config") or execution.get("config_name") or "fast_processing_default",
            "namespace": ev.namespace,
            "parameters": parameters,
            "reason": "debugger: re-run with a corrected parameter",
        },
    )


async def _free_space(tools: ToolCaller, proposal: FixProposal, ev: Evidence) -> dict[str, Any]:
    return await tools.call("prune", {"older_than": proposal.arguments.get("older_than", "P1D"), "reason": "debugger: disk full"})


async def _restart_testbed(tools: ToolCaller, proposal: FixProposal, ev: Evidence) -> dict[str, Any]:
    namespace = proposal.arguments.get("namespace") or ev.namespace
    await tools.call("stop_testbed", {"namespace": namespace, "reason": "debugger: testbed not ready"})
    return await tools.call("start_testbed", {"namespace": namespace, "reason": "debugger: testbed not ready"})


async def _report_only(tools: ToolCaller, proposal: FixProposal, ev: Evidence) -> dict[str, Any]:
    return {"applied": False, "advice": proposal.why}


CATALOG: dict[str, Fix] = {
    fix.name: fix
    for fix in [
        Fix("restart_agent", "agent", "restart one agent", _restart_agent),
        Fix("scale_workers", "testbed", "change the slice worker pool size", _scale_workers),
        Fix("end_execution", "execution", "end a stuck execution (it closes as terminated)", _end_execution),
        Fix("rerun_with_parameter", "execution", "run the workflow again with a corrected parameter", _rerun_with_parameter),
        Fix("free_space", "node", "prune old messages, logs and finished executions", _free_space),
        Fix("restart_testbed", "testbed", "stop and start the namespace's testbed", _restart_testbed),
        Fix("report_only", "none", "change nothing; tell the human what to do", _report_only),
    ]
}


def fix_for(proposal: FixProposal) -> Fix:
    """The catalog entry of a proposal; an unknown fix name is an error listing the known ones."""
    try:
        return CATALOG[proposal.fix]
    except KeyError:
        raise KeyError(f"fix {proposal.fix!r} is not in the catalog; known: {', '.join(sorted(CATALOG))}") from None
