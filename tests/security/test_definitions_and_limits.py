"""Definitions belong to a namespace; counts are bounded (attacker's findings rows 2 and 5).

Each test is the attack, made by a tenant's identity token (one namespace, scopes read, operate,
author) through the real node tools over HTTP, and asserts the refusal AND that nothing changed:

* row 2: a tenant generated and registered a workflow named ``stf_datataking``; it became the
  default for every tenant, and a tenant naming its config ran the attacker's commands in their
  own namespace; generated/ was shared and lost on restart;
* row 5: ``scale_workers`` with count 2000 made 2,000 workers in 2 s; 1e9 took the node to 11 GB.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client

from agents.testbed.framework.destinations import Destinations
from agents.testbed.pipeline_messages import ScaleWorkers
from mcp_nodes.contract.identity import Identity
from mcp_nodes.http import serve_http
from tests.mcp_nodes.conftest import LiveNode, node_settings
from tests.mcp_nodes.test_tools import call, error_of, wait_ready
from tests.support.identity import identity_token
from workflows.definitions import registry

NODE = "test-node"
A, B = "tenant-a", "tenant-b"
EXAMPLE = Path(__file__).resolve().parents[2] / "skills" / "examples" / "fl-workflow"
SCRIPTS = {"fl_tasks.py": (EXAMPLE / "fl_tasks.py").read_text()}
SMALL_FL = {"K": 2, "T": 1, "samples_per_client": 50}
BUILTIN_HASH = registry.get("stf_datataking").source_hash


def spec_named(name: str) -> str:
    """The FL example SPEC.md under another name (its first line: '# SPEC: <name>')."""
    text = (EXAMPLE / "SPEC.md").read_text()
    assert text.startswith("# SPEC: fl-workflow\n")
    return text.replace("# SPEC: fl-workflow\n", f"# SPEC: {name}\n", 1)


def tenant(node: LiveNode, namespace: str, *namespaces: str) -> Client:
    """A client holding a tenant's identity token: its own namespace(s), no admin."""
    identity = Identity(user=f"user-{namespace}", namespaces=[namespace, *namespaces],
                        scopes=["read", "operate", "author"])
    return node.client(token=identity_token(NODE, identity))


@asynccontextmanager
async def running_node(state_dir: Path, **overrides: Any) -> AsyncIterator[LiveNode]:
    """A node on ``state_dir`` (its SQLite store and generated/ live there), served over HTTP."""
    from mcp_nodes.runtime import node_runtime

    async with node_runtime(node_settings(state_dir, name=NODE, **overrides)) as runtime:
        async with serve_http(runtime.build().http_app(path="/mcp"), "127.0.0.1", 0) as port:
            yield LiveNode(url=f"http://127.0.0.1:{port}/mcp", runtime=runtime)


async def generate(client: Client, namespace: str, spec_name: str) -> dict[str, Any]:
    report = await call(client, "spec_generate", spec_text=spec_named(spec_name), scripts=SCRIPTS, dry_run=False,
                        namespace=namespace)
    assert report["ok"] is True, report
    return report


async def run_to_end(client: Client, namespace: str, **args: Any) -> dict[str, Any]:
    execution = await call(client, "start_workflow", namespace=namespace, **args)
    waited = await call(client, "wait_for_execution", execution_id=execution["execution_id"], timeout_s=90)
    assert waited["finished"] is True, waited
    # the config and code version come on request (issue 12: results lead with status)
    return await call(client, "get_workflow_execution", execution_id=execution["execution_id"], include_config=True)


def by_name(listing: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [d for d in listing["items"] if d["name"] == name]


async def test_a_tenant_cannot_register_a_builtin_name(tmp_path: Path) -> None:
    async with running_node(tmp_path) as node:
        async with tenant(node, A) as attacker, tenant(node, B) as victim:
            report = await generate(attacker, A, "stf-datataking")
            assert report["workflow"] == "stf_datataking"
            assert Path(report["out_dir"]) == tmp_path / "generated" / A / "stf_datataking"

            refused = await error_of(attacker, "register_workflow_definition", name="stf_datataking")
            assert refused.startswith("name: 'stf_datataking' is a built-in") and "reserved" in refused
            assert "rename the spec" in refused and "spec_generate" in refused
            for config_name in ("fast_processing_default", "testbed"):  # shipped config names are reserved too
                assert "reserved" in await error_of(attacker, "register_workflow_definition", name=config_name)

            # nothing changed: one stf_datataking, the built-in, for both tenants and in the store
            for client, namespace in ((attacker, A), (victim, B)):
                listed = by_name(await call(client, "list_workflow_definitions"), "stf_datataking")
                assert [(d["namespace"], d["version"], d["source_hash"]) for d in listed] == \
                    [(None, "1.0", BUILTIN_HASH)], namespace
            stored = await node.runtime.store.definitions.list(name="stf_datataking", every_namespace=True)
            assert [row.namespace for row in stored.items] == []  # not even the built-in: nothing ran yet

            # the victim's default start runs the built-in, with the shipped config
            await call(victim, "start_testbed", namespace=B)
            await wait_ready(victim, B)
            done = await run_to_end(victim, B, parameters={"stf_count": 2})
            assert done["status"] == "completed", done["error"]
            assert done["workflow_name"] == "stf_datataking" and done["code_version"] == BUILTIN_HASH
            assert done["config"].get("kind") != "task" and done["config"]["name"] == "fast_processing_default"
            # and naming the attacker's config finds nothing (configs resolve like the workflow)
            unknown = await error_of(victim, "start_workflow", namespace=B, config="stf_datataking")
            assert "stf_datataking" in unknown and "not found" in unknown
            await call(victim, "stop_testbed", namespace=B)
            stored = await node.runtime.store.definitions.list(name="stf_datataking", every_namespace=True)
            assert [row.namespace for row in stored.items] == [None]


async def test_a_registered_workflow_is_its_namespaces_own_and_survives_a_restart(tmp_path: Path) -> None:
    async with running_node(tmp_path, limits={"max_tasks_per_workflow": 50}) as node:
        async with tenant(node, A) as attacker, tenant(node, B) as victim:
            await generate(attacker, A, "evil")
            info = await call(attacker, "register_workflow_definition", name="evil")
            assert info["namespace"] == A and info["configs"] == ["evil"]

            assert by_name(await call(victim, "list_workflow_definitions"), "evil") == []
            await call(victim, "start_testbed", namespace=B)
            await wait_ready(victim, B)
            # as if it did not exist: the same answer as for a name nobody registered
            evil = await error_of(victim, "start_workflow", namespace=B, workflow="evil", config="evil")
            never = await error_of(victim, "start_workflow", namespace=B, workflow="nowhere", config="nowhere")
            assert "unknown workflow 'evil'" in evil
            assert evil.replace("evil", "X") == never.replace("nowhere", "X")
            assert "evil" not in evil.split("known workflows:")[1]
            config_only = await error_of(victim, "start_workflow", namespace=B, config="evil")
            assert "'evil.toml' not found" in config_only and "available configs" in config_only
            missing = await error_of(victim, "register_workflow_definition", name="evil")
            assert f"in namespace '{B}'" in missing and "spec_generate" in missing
            assert (await call(victim, "list_workflow_executions"))["total"] == 0
            await call(victim, "stop_testbed", namespace=B)

            await call(attacker, "start_testbed", namespace=A)
            await wait_ready(attacker, A)
            too_many = await error_of(attacker, "start_workflow", namespace=A, workflow="evil", config="evil",
                                      parameters={"K": 64, "T": 100})
            assert "max_tasks_per_workflow = 50" in too_many and "CONTROLROOM_NODE_LIMITS__MAX_TASKS_PER_WORKFLOW" in too_many
            assert (await call(attacker, "list_workflow_executions"))["total"] == 0
            done = await run_to_end(attacker, A, workflow="evil", config="evil", parameters=SMALL_FL)
            assert done["status"] == "completed", done["error"]
            await call(attacker, "stop_testbed", namespace=A)

    # A new node process on the same database, with its generated/ directory lost: the store alone
    # brings the registered workflow back (the in-process registry is what a new process starts with).
    registry.forget_namespaces()
    shutil.rmtree(tmp_path / "generated")
    async with running_node(tmp_path, limits={"max_tasks_per_workflow": 50}) as node:
        async with tenant(node, A) as owner, tenant(node, B) as other:
            listed = by_name(await call(owner, "list_workflow_definitions"), "evil")
            assert [(d["namespace"], d["version"], d["source_hash"]) for d in listed] == \
                [(A, info["version"], info["source_hash"])]
            assert listed[0]["configs"] == ["evil"]
            assert (tmp_path / "generated" / A / "evil" / "fl_tasks.py").read_text() == SCRIPTS["fl_tasks.py"]
            assert by_name(await call(other, "list_workflow_definitions"), "evil") == []
            await call(owner, "start_testbed", namespace=A)
            await wait_ready(owner, A)
            done = await run_to_end(owner, A, workflow="evil", config="evil", parameters=SMALL_FL)
            assert done["status"] == "completed", done["error"]
            await call(owner, "stop_testbed", namespace=A)


async def workers_of(client: Client, namespace: str) -> int:
    return int((await call(client, "get_testbed_status", namespace=namespace))["workers"])


async def test_scale_workers_beyond_the_limit_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_node(tmp_path, limits={"max_worker_count": 5}) as node:
        async with tenant(node, A) as attacker:
            await call(attacker, "start_testbed", namespace=A)
            await wait_ready(attacker, A)
            before = await workers_of(attacker, A)
            agents_before = (await call(attacker, "list_agents", namespace=A, limit=200))["total"]
            for count in (2000, 1e9):
                refused = await error_of(attacker, "send_message", namespace=A, msg_type="scale_workers",
                                         body={"count": count})
                assert refused.startswith("body.count: ") and "max_worker_count = 5" in refused
                assert "CONTROLROOM_NODE_LIMITS__MAX_WORKER_COUNT" in refused and "at most 5" in refused
            refused = await error_of(attacker, "start_workflow", namespace=A,
                                     parameters={"target_worker_count": 2000, "max_worker_count": 2000})
            assert "parameters.target_worker_count: 2000" in refused and "max_worker_count = 5" in refused
            assert (await call(attacker, "list_workflow_executions"))["total"] == 0
            assert await workers_of(attacker, A) == before
            assert (await call(attacker, "list_agents", namespace=A, limit=200))["total"] == agents_before

            # within the limit it still scales (the check is a bound, not a blanket refusal)
            await call(attacker, "send_message", namespace=A, msg_type="scale_workers", body={"count": 4})
            deadline = time.monotonic() + 30
            while await workers_of(attacker, A) != 4:
                assert time.monotonic() < deadline, "the pool did not grow to 4"
                await anyio.sleep(0.05)

            # a scale_workers put on the bus by an agent (the auto-scaling, or a compromised one) is clamped
            caplog.set_level(logging.INFO, logger="controlroom.testbed")
            assert node.runtime.manager.bus is not None
            await node.runtime.manager.bus.publish(
                Destinations.of(A).testbed_control,
                ScaleWorkers(namespace=A, count=2000, reason="an agent asks for 2000").model_dump(mode="json"),
                persistent=False)
            deadline = time.monotonic() + 30
            while not (handled := [r.getMessage() for r in caplog.records if "(asked 2000)" in r.getMessage()]):
                assert time.monotonic() < deadline, "the manager did not handle the agent's scale_workers"
                await anyio.sleep(0.05)
            assert handled == [f"namespace {A}: worker pool is 5 (asked 2000)"]
            assert await workers_of(attacker, A) == 5
            await call(attacker, "stop_testbed", namespace=A)


async def test_more_testbeds_or_running_executions_than_allowed_are_refused(tmp_path: Path) -> None:
    limits = {"max_testbeds_per_user": 1, "max_running_executions_per_user": 1}
    second = f"{A}-2"
    async with running_node(tmp_path, limits=limits) as node:
        async with tenant(node, A, second) as attacker, tenant(node, B) as other:
            # two starts at the same instant: exactly one passes the count
            results: dict[str, Any] = {}

            async def start(namespace: str) -> None:
                results[namespace] = await attacker.call_tool("start_testbed", {"namespace": namespace},
                                                              raise_on_error=False)

            async with anyio.create_task_group() as group:
                group.start_soon(start, A)
                group.start_soon(start, second)
            assert sorted(r.is_error for r in results.values()) == [False, True]
            started = next(ns for ns, r in results.items() if not r.is_error)
            if started != A:  # keep the rest of the test on A
                await call(attacker, "stop_testbed", namespace=started)
                await call(attacker, "start_testbed", namespace=A)
            await wait_ready(attacker, A)
            refused = await error_of(attacker, "start_testbed", namespace=second)
            assert refused.startswith("namespace: 2 running testbeds of 'user-tenant-a'")
            assert "max_testbeds_per_user = 1" in refused and "CONTROLROOM_NODE_LIMITS__MAX_TESTBEDS_PER_USER" in refused
            assert (await call(attacker, "get_testbed_status", namespace=second))["status"] == "stopped"
            assert node.runtime.manager.namespaces() == [A]

            endless = {"stf_count": 0, "physics_period_count": 0}
            first = await call(attacker, "start_workflow", namespace=A, realtime=True, parameters=endless)
            refused = await error_of(attacker, "start_workflow", namespace=A, parameters={"stf_count": 2})
            assert refused.startswith("workflow: 2 pending or running executions of 'user-tenant-a'")
            assert "max_running_executions_per_user = 1" in refused
            assert (await call(attacker, "list_workflow_executions", namespace=A))["total"] == 1
            never_ends = await error_of(attacker, "start_workflow", namespace=A, parameters=endless)
            assert never_ends.startswith("parameters.stf_count: 0 ") and "never ends" in never_ends

            # another principal is not counted against this one
            await call(other, "start_testbed", namespace=B)
            await wait_ready(other, B)
            await call(other, "stop_testbed", namespace=B)

            # the limit frees when the execution ends
            await call(attacker, "stop_workflow", execution_id=first["execution_id"])
            done = await run_to_end(attacker, A, parameters={"stf_count": 2})
            assert done["status"] == "completed", done["error"]
            await call(attacker, "stop_testbed", namespace=A)
