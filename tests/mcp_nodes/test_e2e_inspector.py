"""End to end: `controlroom node` in a child process driven by the MCP Inspector CLI.

start_testbed -> start_workflow -> wait_for_execution -> get_workflow_execution shows
`completed` with 10 STFs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"
TOKEN = "e2e-node-token"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not INSPECTOR.exists() and os.environ.get("CI") != "true",
                       reason="MCP Inspector CLI not installed (npm install in the repository root)"),
]


@pytest.fixture
def node_url(tmp_path: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", "from mcp_gateway.cli import main; main()", "node", "--name", "e2e", "--port", "0",
         "--state-dir", str(tmp_path / "state"), "--token", TOKEN],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "controlroom node e2e: MCP at http://..."
        assert "MCP at " in line, f"node did not start: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
        yield line.rsplit("MCP at ", 1)[1].strip()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def inspect(url: str, home: Path, tool: str, **args: str) -> dict[str, Any]:
    command = [str(INSPECTOR), "--cli", url, "--transport", "http", "--method", "tools/call",
               "--tool-name", tool, "--header", f"Authorization: Bearer {TOKEN}"]
    if args:
        command += ["--tool-arg", *[f"{k}={v}" for k, v in args.items()]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90,
                          env={**os.environ, "HOME": str(home)})
    assert done.returncode == 0, f"{tool}: {done.stdout}\n{done.stderr}"
    result = json.loads(done.stdout)
    assert not result.get("isError"), f"{tool}: {result}"
    return result["structuredContent"]


def test_inspector_runs_a_workflow_end_to_end(node_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    inspect(node_url, home, "start_testbed", namespace="e2e")
    deadline = time.monotonic() + 30
    while not inspect(node_url, home, "get_testbed_status", namespace="e2e")["ready"]:
        assert time.monotonic() < deadline, "testbed never became ready"
    execution = inspect(node_url, home, "start_workflow", namespace="e2e", parameters='{"stf_count": 10}')
    execution_id = execution["execution_id"]
    waited = inspect(node_url, home, "wait_for_execution", execution_id=execution_id, timeout_s="60")
    assert waited["finished"] is True
    record = inspect(node_url, home, "get_workflow_execution", execution_id=execution_id)
    assert record["status"] == "completed"
    assert record["stf_count"] == 10
