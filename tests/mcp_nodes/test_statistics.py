"""get_execution_statistics on a live in-process node: the numbers of a real run, its size, access."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mcp_nodes.contract.identity import Identity
from tests.mcp_nodes.conftest import LiveNode
from tests.mcp_nodes.test_tools import call, error_of, wait_ready
from tests.support.identity import identity_token


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


async def all_slices(live_node: LiveNode, execution_id: str) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = await live_node.runtime.store.runs.list_slices(execution_id=execution_id, limit=200, cursor=cursor)
        items += page.items
        if not page.has_more:
            return items
        cursor = page.next_cursor


async def test_statistics_of_a_real_run_match_its_slices(live_node: LiveNode) -> None:
    async with live_node.client() as client:
        await call(client, "start_testbed", namespace="st")
        await wait_ready(client, "st")
        started = await call(client, "start_workflow", namespace="st", parameters={"stf_count": 3})
        execution_id = started["execution_id"]
        waited = await call(client, "wait_for_execution", execution_id=execution_id, timeout_s=90)
        assert waited["drained"], waited
        stats: dict[str, Any] = await call(client, "get_execution_statistics", execution_id=execution_id)
        metrics = (await call(client, "get_execution_timeline", execution_id=execution_id, limit=1))["metrics"]
    assert len(json.dumps(stats)) <= 5000
    # what the timeline's metrics say, computed in SQL here
    assert stats["stf_count"] == metrics["stf_count"] == 3
    assert stats["stf_interval_s"] == pytest.approx(metrics["stf_interval_s"], abs=1e-3)
    assert (stats["warnings"], stats["agent_restarts"]) == (metrics["warnings"], metrics["agent_restarts"])
    assert stats["phases"].keys() == metrics["phase_s"].keys()  # 30 workers, the 20 busiest listed (about 4,000)
    slices = await all_slices(live_node, execution_id)
    finished = [s for s in slices if s.processed_at is not None]
    assert finished and stats["slices"]["done"] == sum(1 for s in slices if s.status == "done")
    latencies = [(s.processed_at - s.requested_at).total_seconds() * 1000 for s in finished]
    latency = stats["latency"]
    assert latency["count"] == len(finished)
    assert latency["p50_ms"] == pytest.approx(nearest_rank(latencies, 0.5), abs=0.01)
    assert latency["p99_ms"] == pytest.approx(nearest_rank(latencies, 0.99), abs=0.01)
    assert sum(b["count"] for b in stats["latency_histogram"]) == len(finished)
    for low, high in ((b["low_ms"], b["high_ms"]) for b in stats["latency_histogram"] if b["count"]):
        assert any(low <= v < (high or math.inf) for v in latencies)
    waits = [(s.processing_start_at - s.requested_at).total_seconds() * 1000 for s in slices if s.processing_start_at]
    assert stats["queue_wait"]["p50_ms"] == pytest.approx(nearest_rank(waits, 0.5), abs=0.01)
    workers = {w["worker"]: w for w in stats["workers"]}
    every = {s.assigned_worker for s in slices if s.assigned_worker}
    assert stats["workers_total"] == len(every) and set(workers) <= every and len(workers) == min(len(every), 20)
    busy = [w["processing_s"] for w in stats["workers"]]
    assert busy == sorted(busy, reverse=True)  # the busiest listed first
    for name, worker in workers.items():
        mine = [s for s in finished if s.assigned_worker == name and s.processing_start_at]
        assert worker["slices"] == sum(1 for s in slices if s.assigned_worker == name)
        assert worker["processing_s"] == pytest.approx(
            sum((s.processed_at - s.processing_start_at).total_seconds() for s in mine), abs=2e-3)
    assert "run/physics" in stats["phases"] and sum(stats["phases"].values()) > 0
    assert sum(stats["completions"]) == len(finished)
    assert stats["tasks"] is None and stats["status"] == "completed"


async def test_statistics_of_another_namespace_are_not_known(live_node: LiveNode) -> None:
    async with live_node.client() as client:
        await call(client, "start_testbed", namespace="stx")
        await wait_ready(client, "stx")
        started = await call(client, "start_workflow", namespace="stx", parameters={"stf_count": 1})
    node = live_node.runtime.settings.name
    bob = identity_token(node, Identity(user="bob", namespaces=["bob"], scopes=["read"], request_id="r1"))
    async with live_node.client(token=bob) as client:
        text = await error_of(client, "get_execution_statistics", execution_id=started["execution_id"])
        assert text == f"no execution with id {started['execution_id']!r}", text
        text = await error_of(client, "get_execution_statistics", execution_id="nothing-bob-0001")
        assert text == "no execution with id 'nothing-bob-0001'", text


class _ClientTools:
    """``agents.testbed.statistics.Tools`` over a FastMCP client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return await call(self.client, name, **arguments)


async def test_a_task_workflow_has_wall_to_compute_and_per_worker_compute(live_node: LiveNode) -> None:
    from agents.testbed.statistics import characterize
    from tests.mcp_nodes.test_spec_tools import EXAMPLE

    namespace = "stt"
    text = (EXAMPLE / "SPEC.md").read_text()
    scripts = {"fl_tasks.py": (EXAMPLE / "fl_tasks.py").read_text()}
    async with live_node.client() as client:
        assert (await call(client, "spec_generate", spec_text=text, scripts=scripts, namespace=namespace))["ok"]
        await call(client, "register_workflow_definition", name="fl_workflow", namespace=namespace)
        await call(client, "start_testbed", namespace=namespace)
        await wait_ready(client, namespace)
        started = await call(client, "start_workflow", namespace=namespace, workflow="fl_workflow", config="fl_workflow",
                             parameters={"K": 2, "T": 1, "samples_per_client": 50})
        execution_id = started["execution_id"]
        waited = await call(client, "wait_for_execution", execution_id=execution_id, timeout_s=60)
        assert waited["execution"]["status"] == "completed", waited
        stats: dict[str, Any] = await call(client, "get_execution_statistics", execution_id=execution_id)
        summary = (await call(client, "list_messages", execution_id=execution_id,
                              msg_type="task_workflow_summary"))["items"][0]["body"]
        table = await characterize(_ClientTools(client), execution_id)
    tasks = stats["tasks"]
    assert tasks["succeeded"] == sum(summary["stage_runs"].values()) == 1 + 2 + 1 + 1 + 1
    assert (tasks["wall_s"], tasks["compute_s"]) == (summary["duration_s"], summary["compute_s"])
    assert tasks["wall_to_compute"] == pytest.approx(summary["duration_s"] / summary["compute_s"], rel=1e-3)
    assert sum(w["tasks"] for w in tasks["workers"]) == tasks["succeeded"]
    assert sum(w["compute_s"] for w in tasks["workers"]) == pytest.approx(summary["compute_s"], abs=1e-5)
    assert stats["slices"] == {} and stats["latency"]["count"] == 0
    rows = table.rows()
    assert ("tasks", "wall_to_compute", f"{tasks['wall_to_compute']:g}") in rows
    assert sum(1 for section, _, _ in rows if section == "task worker") == len(tasks["workers"]) > 0
