"""Spec tools over HTTP against a live in-process node: validate, generate, register, run a generated workflow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcp_nodes.http import serve_http
from tests.mcp_nodes.conftest import LiveNode, node_settings
from tests.mcp_nodes.test_tools import call, error_of, wait_ready

NS = "fl"
EXAMPLE = Path(__file__).resolve().parents[2] / "skills" / "examples" / "fl-workflow"


async def test_validate_reports_problems_with_line_numbers(live_node: LiveNode) -> None:
    text = (EXAMPLE / "SPEC.md").read_text()
    async with live_node.client() as client:
        good = await call(client, "spec_validate", spec_text=text)
        assert good["valid"] is True and good["name"] == "fl-workflow" and good["errors"] == 0
        lines = text.split("\n")
        row = next(i for i, line in enumerate(lines) if line.startswith("| aggregate | task | train |"))
        lines[row] = lines[row].replace("| aggregate | task | train |", "| aggregate | task | trian |")
        bad = await call(client, "spec_validate", spec_text="\n".join(lines))
        assert bad["valid"] is False and bad["errors"] >= 1
        problem = next(p for p in bad["problems"] if p["code"] == "unknown-stage")
        assert problem["line"] == row + 1 and "trian" in problem["message"]


async def test_generate_register_and_run_the_fl_example(live_node: LiveNode) -> None:
    text = (EXAMPLE / "SPEC.md").read_text()
    scripts = {"fl_tasks.py": (EXAMPLE / "fl_tasks.py").read_text()}
    async with live_node.client() as client:
        tools = {t.name: t for t in await client.list_tools()}
        for name in ("spec_validate", "spec_generate", "register_workflow_definition"):
            assert tools[name].output_schema is not None and len(tools[name].description or "") > 40

        message = await error_of(client, "spec_generate", spec_text=text, name="other_name", scripts=scripts,
                                 namespace=NS)
        assert "name" in message and "fl_workflow" in message

        report = await call(client, "spec_generate", spec_text=text, scripts=scripts, namespace=NS)
        assert report["ok"] is True, report
        assert report["workflow"] == "fl_workflow" and report["version"].startswith("spec.")
        assert report["dry_run"]["status"] == "completed" and report["dry_run"]["tasks"] == 4 * 3 + 2 * 3 + 2
        results = {c["id"]: c["result"] for c in report["criteria"]}
        assert results == {"V1": "PASS", "V2": "PASS", "V3": "PASS", "V4": "MANUAL", "V5": "PASS", "V6": "PASS"}
        out_dir = Path(report["out_dir"])
        assert out_dir == live_node.runtime.settings.state_dir / "generated" / NS / "fl_workflow"
        assert (out_dir / "fl_tasks.py").is_file()

        info = await call(client, "register_workflow_definition", name="fl_workflow", namespace=NS)
        assert info["name"] == "fl_workflow" and info["version"] == report["version"]
        assert info["configs"] == ["fl_workflow"] and "K" in str(info["parameter_schema"])
        again = await call(client, "register_workflow_definition", name="fl_workflow", namespace=NS)
        assert again["source_hash"] == info["source_hash"]
        listed = await call(client, "list_workflow_definitions", namespace=NS)
        assert any(d["name"] == "fl_workflow" and d["version"] == info["version"] for d in listed["items"])

        await call(client, "start_testbed", namespace=NS, reason="run a generated workflow")
        await wait_ready(client, NS)
        refused = await error_of(client, "start_workflow", namespace=NS, workflow="fl_workflow", config="fl_workflow",
                                 parameters={"K": 0})
        assert "'K'" in refused and ">= 1" in refused
        unknown = await error_of(client, "start_workflow", namespace=NS, workflow="fl_workflow", config="fl_workflow",
                                 parameters={"stf_count": 3})
        assert "stf_count" in unknown and "samples_per_client" in unknown

        execution = await call(client, "start_workflow", namespace=NS, workflow="fl_workflow", config="fl_workflow",
                               parameters={"K": 2, "T": 2, "samples_per_client": 50}, reason="small FL run")
        execution_id = execution["execution_id"]
        assert execution["overrides"]["K"] == 2 and execution["config"] is None  # the config on request (issue 12)
        full = await call(client, "get_workflow_execution", execution_id=execution["execution_id"], include_config=True)
        assert full["parameters"]["K"] == 2 and full["config"]["kind"] == "task"
        state_dir = str(live_node.runtime.settings.state_dir)
        assert "directory" not in full["config"] and state_dir not in str(full)  # no node path reaches a client
        waited = await call(client, "wait_for_execution", execution_id=execution_id, timeout_s=60)
        assert waited["finished"] is True, waited
        assert waited["execution"]["status"] == "completed", waited["execution"]["error"]

        summaries = await call(client, "list_messages", execution_id=execution_id, msg_type="task_workflow_summary")
        assert summaries["total"] == 1
        body = summaries["items"][0]["body"]
        assert body["stage_runs"] == {"prepare": 1, "train": 4, "aggregate": 2, "evaluate": 2, "report": 1}
        assert body["failed"] == 0 and body["outputs"] == 2 * 2 + 2 * 2 + 2
        groups = await call(client, "list_messages", execution_id=execution_id, msg_type="group_done")
        assert groups["total"] == 1 + 2 + 2 + 2 + 1
        assert (out_dir / "runs" / execution_id / "report.md").is_file()

        long_run = await call(client, "start_workflow", namespace=NS, workflow="fl_workflow", config="fl_workflow",
                              parameters={"K": 2, "T": 100, "samples_per_client": 50})
        stopped = await call(client, "stop_workflow", execution_id=long_run["execution_id"], reason="stop test")
        assert stopped["status"] == "terminated" and "stop test" in (stopped["error"] or "")
        await call(client, "stop_testbed", namespace=NS)


async def test_registering_changed_source_is_refused(live_node: LiveNode) -> None:
    text = (EXAMPLE / "SPEC.md").read_text()
    async with live_node.client() as client:
        report = await call(client, "spec_generate", spec_text=text, dry_run=False, namespace=NS)
        assert report["ok"] is True and report["dry_run"] is None
        first = await call(client, "register_workflow_definition", name="fl_workflow", namespace=NS)
        module = Path(report["out_dir"]) / "fl_workflow.py"
        module.write_text(module.read_text() + "# edited by hand\n")
        message = await error_of(client, "register_workflow_definition", name="fl_workflow", namespace=NS)
        assert first["source_hash"] in message and "bump the version" in message
        missing = await error_of(client, "register_workflow_definition", name="nothing_here", namespace=NS)
        assert "spec_generate" in message and "instead of editing" in message
        # a name with nothing generated names what IS generated and the step that makes it
        assert "'nothing_here'" in missing and "fl_workflow" in missing and "call spec_generate first" in missing


def task_worker_pids(namespace: str) -> list[int]:
    """Processes running ``python -m agents.tasks.worker --namespace <namespace>``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agents.tasks.worker" in argv and namespace.encode() in argv:
            found.append(int(entry.name))
    return found


@pytest.mark.activemq
async def test_process_mode_runs_task_workers_as_child_processes(tmp_path: Path,
                                                                 stomp_address: tuple[str, int]) -> None:
    from mcp_nodes.runtime import node_runtime

    host, port = stomp_address
    settings = node_settings(tmp_path, bus="stomp", stomp=f"{host}:{port}", heartbeat_interval_s=0.5)
    namespace = f"flproc-{os.getpid()}"
    text = (EXAMPLE / "SPEC.md").read_text()
    scripts = {"fl_tasks.py": (EXAMPLE / "fl_tasks.py").read_text()}
    async with node_runtime(settings) as runtime:
        async with serve_http(runtime.build().http_app(path="/mcp")) as http_port:
            node = LiveNode(url=f"http://127.0.0.1:{http_port}/mcp", runtime=runtime)
            async with node.client() as client:
                assert (await call(client, "spec_generate", spec_text=text, scripts=scripts, dry_run=False,
                                    namespace=namespace))["ok"]
                await call(client, "register_workflow_definition", name="fl_workflow", namespace=namespace)
                await call(client, "start_testbed", namespace=namespace)
                await wait_ready(client, namespace, timeout=30)
                execution = await call(client, "start_workflow", namespace=namespace, workflow="fl_workflow",
                                       config="fl_workflow", parameters={"K": 2, "T": 1, "samples_per_client": 50})
                assert len(task_worker_pids(namespace)) == 4  # [agents.task_workers] count
                waited = await call(client, "wait_for_execution", execution_id=execution["execution_id"], timeout_s=90)
                assert waited["execution"]["status"] == "completed", waited["execution"]["error"]
                summary = await call(client, "list_messages", execution_id=execution["execution_id"],
                                     msg_type="task_workflow_summary")
                assert summary["items"][0]["body"]["stage_runs"]["train"] == 2
                await call(client, "stop_testbed", namespace=namespace)
                assert task_worker_pids(namespace) == []
