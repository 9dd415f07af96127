"""The official TypeScript MCP SDK (@modelcontextprotocol/sdk 1.32.2) runs the canonical task
through the gateway of `controlroom up` (tests/e2e/canonical_client.mjs, plain ESM, no build):
every structuredContent validates against its tool's outputSchema (ajv, JSON Schema 2020-12), and
wait_for_execution sends progress notifications (increasing) to the progress token the SDK asked
with. Every tool's input and output schema compiles under JSON Schema 2020-12."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest

from tests.conftest import skip_or_fail
from tests.e2e.node import NODE_MODULES, node_binary

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).with_name("canonical_client.mjs")
CANONICAL = ["start_testbed", "start_workflow", "wait_for_execution", "get_workflow_execution"]


async def test_typescript_sdk_runs_the_canonical_task(controlroom: dict[str, str]) -> None:
    if not (NODE_MODULES / "@modelcontextprotocol" / "sdk" / "package.json").exists():
        skip_or_fail("the TypeScript MCP SDK is missing: run `npm ci` in the repository root")
    command = [node_binary(), str(SCRIPT), "bob", "10"]
    env = {**os.environ, "CONTROLROOM_URL": controlroom["url"], "CONTROLROOM_TOKEN": controlroom["token"]}
    done = await anyio.to_thread.run_sync(lambda: subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env))
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)
    calls = {call["name"]: call for call in report["calls"]}
    assert list(calls) == CANONICAL  # (wait_for_execution possibly more than once: the last entry is kept)
    for call in report["calls"]:
        name = call["name"]
        assert call["isError"] is False, (name, call.get("content"))
        assert call["hasOutputSchema"] and call["hasStructuredContent"], name
        assert call["valid"] is True, (name, call["errors"])
        assert call["rejectsNonObject"] is True, name
    waits = [call for call in report["calls"] if call["name"] == "wait_for_execution"]
    assert waits[-1]["structuredContent"]["finished"] is True, waits[-1]["structuredContent"]
    record = calls["get_workflow_execution"]["structuredContent"]
    assert record["namespace"] == "bob"
    assert record["status"] == "completed"
    assert record["stf_count"] == 10
    # progress, per wait_for_execution call (each has its own token): at least one, never going back
    assert sum(len(updates) for updates in report["progress"]) >= 1, report["progress"]
    for updates in report["progress"]:
        assert all({"progress", "total"} <= set(update) for update in updates), updates
        values = [update["progress"] for update in updates]
        assert values == sorted(values), values
