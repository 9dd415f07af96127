"""Real MCP clients from npm against the gateway: the MCP Inspector CLI (2025-11-25 era) calls a
routed tool; Claude Code (2026-07-28 era) reports the gateway Connected."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest

BIN = Path(__file__).resolve().parents[2] / "node_modules" / ".bin"


def _binary(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        message = f"{path} is missing: run `npm install` in the repository root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


async def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await anyio.to_thread.run_sync(lambda: subprocess.run(
        args, capture_output=True, text=True, timeout=90, env={**os.environ, **(env or {})}))


@pytest.mark.e2e
async def test_mcp_inspector_cli_calls_a_routed_tool(gateway, spawn) -> None:
    inspector = _binary("mcp-inspector")
    await spawn("n1", ["a"])
    await spawn("n2", ["b"])
    token = await gateway.token("bob", ["b"])
    done = await _run([str(inspector), "--cli", gateway.mcp_url, "--transport", "http",
                       "--header", f"Authorization: Bearer {token}", "--method", "tools/call",
                       "--tool-name", "start_workflow", "--tool-arg", "workflow=stf", "--tool-arg", "namespace=b"])
    assert done.returncode == 0, done.stderr + done.stdout
    answer = json.loads(done.stdout)
    assert answer.get("isError") in (None, False)
    assert answer["structuredContent"]["node"] == "n2"
    assert answer["_meta"]["controlroom/route"] == {"node": "n2", "reason": "namespace"}


@pytest.mark.e2e
async def test_claude_code_lists_the_gateway_as_connected(gateway, spawn, tmp_path: Path) -> None:
    claude = _binary("claude")
    await spawn("n1", ["a"])
    token = await gateway.token("alice", ["a"])
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config"), "CLAUDE_CONFIG_DIR": str(tmp_path / ".claude")}
    added = await _run([str(claude), "mcp", "add", "--transport", "http", "controlroom", gateway.mcp_url,
                        "--header", f"Authorization: Bearer {token}"], env)
    assert added.returncode == 0, added.stderr + added.stdout
    listed = await _run([str(claude), "mcp", "list"], env)
    assert listed.returncode == 0, listed.stderr + listed.stdout
    line = next(line for line in listed.stdout.splitlines() if line.startswith("controlroom"))
    assert "Connected" in line, listed.stdout
