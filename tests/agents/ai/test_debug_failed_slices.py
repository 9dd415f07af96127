"""Failed slices make an execution unhealthy even before the log lines about them are stored.

The node's answers are canned (the debugger's swap point is its ``ToolCaller``, one MCP call in,
one structured result out): the store already holds 6 failed slice rows, the fast-processing
agent's "slice ... failed" lines are still in its log buffer (flushed every 0.5 s).
"""

from __future__ import annotations

from typing import Any

from agents.ai.debugger.evidence import ToolFailed
from agents.ai.debugger.loop import Debugger

ANSWERS: dict[str, dict[str, Any]] = {
    "get_workflow_execution": {"execution_id": "x1", "namespace": "fred", "status": "completed",
                               "workflow_name": "stf_datataking", "config_name": "fast_processing_default"},
    "get_workflow_monitor": {"execution_id": "x1", "slices": {"done": 114, "failed": 6}},
    "get_testbed_status": {"namespace": "fred", "running": True},
    "list_agents": {"items": []},
    "list_logs": {"items": []},
    "get_execution_timeline": {"entries": [], "metrics": {"execution_id": "x1", "status": "completed",
                                                          "slices": {"done": 114, "failed": 6}}},
    "list_workflow_executions": {"items": []},
}


class NodeAnswers:
    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name not in ANSWERS:
            raise ToolFailed(f"{name} is not served here")
        return ANSWERS[name]


async def test_failed_slices_without_logged_warnings_are_not_healthy() -> None:
    report = await Debugger(NodeAnswers()).debug(execution_id="x1")
    assert report.outcome != "healthy", [s.summary for s in report.steps]
    assert report.diagnosis is not None and report.diagnosis.evidence[0] == "6 of 120 slices failed"
