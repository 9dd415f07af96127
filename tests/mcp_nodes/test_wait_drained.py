"""wait_for_execution says finished only once the processing drained; before that it says
drained=false with what is still queued or processing, and the monitor's ``processing`` count is
true while slices are in flight. A completed execution shows its final phase."""

from __future__ import annotations

from typing import Any

from tests.mcp_nodes.conftest import LiveNode
from tests.mcp_nodes.test_tools import call, wait_ready

NS = "drainer"
SLOW = {"stf_count": 2, "slices_per_sample": 4, "target_worker_count": 1, "max_worker_count": 1,
        "worker_count_min": 1, "slice_processing_time": 20, "realtime_factor": 0.05}  # 1 s per slice, one worker


async def test_wait_reports_undrained_slices_then_finishes(live_node: LiveNode) -> None:
    async with live_node.client() as client:
        await call(client, "start_testbed", namespace=NS)
        await wait_ready(client, NS)
        execution = await call(client, "start_workflow", namespace=NS, realtime=True, parameters=SLOW)
        execution_id = execution["execution_id"]
        answers: list[dict[str, Any]] = []
        processing_seen = 0
        for _ in range(300):
            answer = await call(client, "wait_for_execution", execution_id=execution_id, timeout_s=0.5)
            answers.append(answer)
            monitor = await call(client, "get_workflow_monitor", execution_id=execution_id)
            processing_seen = max(processing_seen, (monitor["slices"] or {}).get("processing", 0))
            if answer["finished"]:
                break
        else:
            raise AssertionError(f"never finished: {answers[-1]}")
        ended_undrained = [a for a in answers if a["execution"]["status"] == "completed" and not a["finished"]]
        assert ended_undrained, "the run never ended with slices still in flight (the test needs slow workers)"
        for answer in ended_undrained:
            assert answer["drained"] is False
            assert answer["outstanding"] and set(answer["outstanding"]) <= {"slices_queued", "slices_processing"}
            assert "wait_for_execution again" in answer["hint"]
        final = answers[-1]
        assert final["drained"] is True and final["outstanding"] == {}
        monitor = await call(client, "get_workflow_monitor", execution_id=execution_id)
        assert {k: v for k, v in monitor["slices"].items() if v} == {"done": 8}
        assert processing_seen >= 1, "no slice was ever shown processing while the worker held it"
        assert monitor["phase"] == "no_beam/not_ready"
