"""A generated workflow stored before the task runtime moved to ``agents.tasks`` still runs.

Its files, as the store keeps them, name ``workflows.tasks.worker`` as the worker module
(``agents.toml``) and import ``workflows.tasks.{bridge,config,workflow}``. A node restores them at
start and, in process mode, starts the task workers that name resolves to (``agents.tasks.worker``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mcp_nodes.http import serve_http
from tests.mcp_nodes.conftest import LiveNode, node_settings
from tests.mcp_nodes.test_spec_tools import EXAMPLE, task_worker_pids
from tests.mcp_nodes.test_tools import call, error_of, wait_ready

OLD_MODULE = "workflows.tasks.worker"


def _as_stored_before_the_move(directory: Path) -> None:
    """What spec_generate wrote before the move: the worker module under its old name."""
    for name in ("agents.toml", "README.md"):
        path = directory / name
        path.write_text(path.read_text().replace("agents.tasks.worker", OLD_MODULE))
    assert f'module = "{OLD_MODULE}"' in (directory / "agents.toml").read_text()


@pytest.mark.activemq
async def test_a_workflow_stored_with_the_old_worker_module_runs_after_a_restart(
        tmp_path: Path, stomp_address: tuple[str, int]) -> None:
    from mcp_nodes.runtime import node_runtime

    host, port = stomp_address
    settings = node_settings(tmp_path, bus="stomp", stomp=f"{host}:{port}", heartbeat_interval_s=0.5)
    namespace = f"oldmod-{os.getpid()}"
    text = (EXAMPLE / "SPEC.md").read_text()
    scripts = {"fl_tasks.py": (EXAMPLE / "fl_tasks.py").read_text()}
    generated = tmp_path / "generated" / namespace / "fl_workflow"

    async with node_runtime(settings) as runtime:
        async with serve_http(runtime.build().http_app(path="/mcp")) as http_port:
            node = LiveNode(url=f"http://127.0.0.1:{http_port}/mcp", runtime=runtime)
            async with node.client() as client:
                report = await call(client, "spec_generate", spec_text=text, scripts=scripts, dry_run=False,
                                    namespace=namespace)
                assert report["ok"] and Path(report["out_dir"]) == generated
                assert 'module = "agents.tasks.worker"' in (generated / "agents.toml").read_text()  # new ones
                _as_stored_before_the_move(generated)
                await call(client, "register_workflow_definition", name="fl_workflow", namespace=namespace)
    shutil.rmtree(tmp_path / "generated")  # the store is the truth: the next start writes the files back

    async with node_runtime(settings) as runtime:
        assert f'module = "{OLD_MODULE}"' in (generated / "agents.toml").read_text()
        async with serve_http(runtime.build().http_app(path="/mcp")) as http_port:
            node = LiveNode(url=f"http://127.0.0.1:{http_port}/mcp", runtime=runtime)
            async with node.client() as client:
                await call(client, "start_testbed", namespace=namespace)
                await wait_ready(client, namespace, timeout=30)
                execution = await call(client, "start_workflow", namespace=namespace, workflow="fl_workflow",
                                       config="fl_workflow", parameters={"K": 2, "T": 1, "samples_per_client": 50})
                assert len(task_worker_pids(namespace)) == 4  # python -m agents.tasks.worker children
                waited = await call(client, "wait_for_execution", execution_id=execution["execution_id"],
                                    timeout_s=90)
                assert waited["execution"]["status"] == "completed", waited["execution"]["error"]
                await call(client, "stop_testbed", namespace=namespace)
                assert task_worker_pids(namespace) == []


async def test_a_worker_module_that_is_no_task_worker_is_refused(live_node: LiveNode) -> None:
    namespace = "badmod"
    text = (EXAMPLE / "SPEC.md").read_text()
    scripts = {"fl_tasks.py": (EXAMPLE / "fl_tasks.py").read_text()}
    async with live_node.client() as client:
        report = await call(client, "spec_generate", spec_text=text, scripts=scripts, dry_run=False,
                            namespace=namespace)
        agents_toml = Path(report["out_dir"]) / "agents.toml"
        agents_toml.write_text(agents_toml.read_text().replace('"agents.tasks.worker"', '"http.server"'))
        await call(client, "register_workflow_definition", name="fl_workflow", namespace=namespace)
        await call(client, "start_testbed", namespace=namespace)
        await wait_ready(client, namespace)
        message = await error_of(client, "start_workflow", namespace=namespace, workflow="fl_workflow",
                                 config="fl_workflow", parameters={"K": 2, "T": 1})
        assert "[agents.task_workers] module" in message and "'http.server'" in message
        assert "agents.tasks.worker" in message
        await call(client, "stop_testbed", namespace=namespace)
