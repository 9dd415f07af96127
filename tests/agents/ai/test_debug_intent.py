"""The debugger reads provenance: operators' stops and kills are intent, baselines speak when no
rule does, and the LLM's fix is checked against the timeline. Real gateway, node and clients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agents.ai.messages_api import ScriptedMessagesAPI, Turn
from tests.agents.ai.test_debug_e2e import _cited_ids, call, finished, gateway


async def test_operator_stops_are_intent_and_nothing_is_undone(tmp_path: Path) -> None:
    async with gateway(tmp_path / "state") as (client, _):
        # 1. stop_workflow with a reason: the answer is in the provenance chain
        await call(client, "start_testbed", namespace="ops")
        started = await call(client, "start_workflow", namespace="ops", realtime=True, parameters={"stf_count": 50})
        execution_id = started["execution_id"]
        await call(client, "stop_workflow", execution_id=execution_id, reason="beam dump requested by shift leader")
        report = await call(client, "debug_execution", execution_id=execution_id)
        diagnosis = report["diagnosis"]
        assert (diagnosis["failure"], diagnosis["diagnosed_by"], report["outcome"]) == ("operator_action", "rules", "reported")
        assert "stopped by admin via" in diagnosis["summary"] and "reason: beam dump requested by shift leader" in diagnosis["summary"]
        cited = {e["id"]: e for e in report["cited"]}
        stop = next(e for e in cited.values() if e["kind"] == "stop_workflow")
        assert stop["source"] == "gateway" and stop["actor"] == "admin" and stop["client"]

        # the same timeline is served to anyone who may read the execution, within 6,000 characters
        timeline = await call(client, "get_execution_timeline", execution_id=execution_id)
        assert len(json.dumps(timeline)) <= 6000
        assert stop["id"] in [e["id"] for e in timeline["entries"]]

        # 2. stop_testbed while an execution runs: no restart_agent against the operator's stop
        await call(client, "start_testbed", namespace="maint")
        running = await call(client, "start_workflow", namespace="maint", realtime=True, parameters={"stf_count": 50})
        await call(client, "stop_testbed", namespace="maint", reason="maintenance window")
        report = await call(client, "debug_execution", execution_id=running["execution_id"])
        assert report["diagnosis"]["failure"] == "operator_action", report["steps"]
        assert "maintenance window" in report["diagnosis"]["summary"]
        assert report["outcome"] == "reported" and not any(s["kind"] == "action" for s in report["steps"])

        # 3. a killed agent: the restart is only proposed (ASK), naming the kill it would undo
        status = await call(client, "start_testbed", namespace="kills")
        victim = next(a["name"] for a in status["agents"] if a["agent_type"] == "fastmon")
        await call(client, "kill_agent", name=victim, reason="host swap")
        report = await call(client, "debug_execution", namespace="kills")
        assert report["diagnosis"]["failure"] == "agent_crashed"
        assert (report["verdict"], report["outcome"]) == ("ASK", "awaiting_approval")
        assert report["undoes"].startswith(f"killed {victim} by admin") and "host swap" in report["undoes"]
        assert (await call(client, "get_agent", name=victim))["status"] == "EXITED"  # not undone


async def test_without_rule_or_llm_the_baseline_says_what_changed(tmp_path: Path) -> None:
    async with gateway(tmp_path / "state") as (client, _):
        await call(client, "start_testbed", namespace="base")
        # real time (x0.02): the workers sleep slice_processing_time, so the slice latency follows it;
        # in fast mode the parameter only moves simulated time and the wall latency is noise
        base = {"stf_count": 3, "realtime_factor": 0.02, "stf_sampling_rate": 0.3, "slices_per_sample": 3}
        for _ in range(2):
            done = await call(client, "start_workflow", namespace="base", realtime=True, parameters=base)
            await finished(client, done["execution_id"])
        slow = await call(client, "start_workflow", namespace="base", reason="try slower payload", realtime=True,
                          parameters={**base, "slice_processing_time": 300})
        await finished(client, slow["execution_id"])
        report = await call(client, "debug_execution", execution_id=slow["execution_id"])
    diagnosis = report["diagnosis"]
    assert (diagnosis["failure"], diagnosis["diagnosed_by"]) == ("degraded", "baseline"), report["steps"]
    assert diagnosis["evidence"][0] == "parameter slice_processing_time 300.0 (was 30.0)" or \
        diagnosis["evidence"][0].startswith("parameter slice_processing_time 300"), diagnosis["evidence"]
    assert any(e.startswith("slice latency") for e in diagnosis["evidence"]), diagnosis["evidence"]
    assert "x-start" in diagnosis["cites"] and report["outcome"] == "reported"


async def test_llm_fix_whose_premise_the_timeline_contradicts_is_refused(tmp_path: Path, messages_api: ScriptedMessagesAPI) -> None:
    def conclude(body: dict[str, Any]) -> Turn:
        ids = _cited_ids(body)
        # the model blames an agent that is up
        return Turn(tool_calls=[("conclude", {"failure": "agent_crashed", "summary": "the data agent hung",
                                              "cites": ids[-1:], "fix": "restart_agent",
                                              "fix_arguments": {"name": "data-agent-llm-1"}, "why": "restart it"})])

    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": messages_api.url, "CONTROLROOM_AI_MODEL": "claude-test"}
    async with gateway(tmp_path / "state", env=env) as (client, _):
        await call(client, "start_testbed", namespace="llm")
        started = await call(client, "start_workflow", namespace="llm",
                             parameters={"stf_count": 8, "slice_failure_rate": 0.05, "slice_max_retries": 0})
        await finished(client, started["execution_id"])
        messages_api.script = [conclude]
        report = await call(client, "debug_execution", execution_id=started["execution_id"])
        assert report["diagnosis"]["diagnosed_by"] == "llm", report["steps"]
        assert report["outcome"] == "refused", report["steps"]
        last = report["steps"][-1]["summary"]
        assert "data-agent-llm-1 is READY" in last or "data-agent-llm-1 is PROCESSING" in last, last
        assert not any(s["kind"] == "action" for s in report["steps"])
        agent = await call(client, "get_agent", name="data-agent-llm-1")
        assert agent["restarts"] == 0

        # a diagnosis citing an entry that is not in the timeline: its fix becomes report_only
        messages_api.script = [Turn(tool_calls=[("conclude", {
            "failure": "slice_backlog", "summary": "too few workers", "cites": ["c_made_up"],
            "fix": "scale_workers", "fix_arguments": {"namespace": "llm", "count": 8}, "why": "more workers"})])]
        report = await call(client, "debug_execution", execution_id=started["execution_id"])
        refused = [s["summary"] for s in report["steps"] if s["kind"] == "decision"]
        assert refused[0] == "the model's fix is refused: the diagnosis cites entries that are not in the timeline: c_made_up"
        assert report["fix"]["fix"] == "report_only" and report["outcome"] == "reported"
        assert not any(s["kind"] == "action" for s in report["steps"])


async def test_another_namespace_s_provenance_does_not_leak_through_the_debugger(tmp_path: Path) -> None:
    """The attack: bob debugs alice's execution by id, hoping the gateway's call records (alice's
    stop and its reason) come back in the report. Refused by the node, and nothing of alice's is read."""
    import subprocess
    import sys

    async with gateway(tmp_path / "state") as (admin, up):
        await call(admin, "start_testbed", namespace="alice")
        started = await call(admin, "start_workflow", namespace="alice", realtime=True, parameters={"stf_count": 50})
        await call(admin, "stop_workflow", execution_id=started["execution_id"], reason="secret calibration of detector 7")
        made = subprocess.run([sys.executable, "-m", "mcp_gateway.cli", "token", "create", "--user", "bob",
                               "--namespaces", "bob", "--state-dir", up["state_dir"]], capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        from fastmcp import Client
        from fastmcp.client.transports import StreamableHttpTransport

        async with Client(StreamableHttpTransport(up["url"], auth=made.stdout.strip())) as bob:
            result = await bob.call_tool("debug_execution", {"execution_id": started["execution_id"]}, raise_on_error=False)
            text = json.dumps(result.structured_content or {}) + "".join(getattr(b, "text", "") for b in result.content)
            assert "secret calibration" not in text and "stop_workflow" not in text, text
            assert result.is_error or (result.structured_content or {}).get("outcome") in ("undiagnosed", "healthy"), text
            timeline = await bob.call_tool("get_execution_timeline", {"execution_id": started["execution_id"]},
                                           raise_on_error=False)
            assert timeline.is_error and "secret" not in timeline.content[0].text
