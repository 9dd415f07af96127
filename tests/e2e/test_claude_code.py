"""Claude Code headless runs the canonical task through the gateway of `controlroom up`.

`claude -p "start a testbed in namespace alice and run 10 STFs" --output-format stream-json`
with ``ANTHROPIC_BASE_URL`` at the scripted Messages API (tests/agents/ai/messages_api.py, SSE),
the gateway added with `claude mcp add --transport http ... --header "Authorization: Bearer T"`.
Claude Code 2.1.330 defers MCP tools behind ToolSearch; `Canonical` selects them first. HOME and
CLAUDE_CONFIG_DIR are a fresh directory; outbound traffic other than 127.0.0.1 goes to a proxy
address that refuses it. The sizes are what Claude Code put in each tool_result it sent back.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agents.ai.messages_api import ScriptedMessagesAPI
from tests.e2e.claude_script import CANONICAL, NAMESPACE, STF_COUNT, Canonical, block_text
from tests.e2e.node import npm_client

pytestmark = pytest.mark.e2e

SERVER = "controlroom"
PROMPT = f"start a testbed in namespace {NAMESPACE} and run {STF_COUNT} STFs"
MAX_RESULT_CHARS = 6_000
CANONICAL_BUDGET_CHARS = 4_000  # all four results together (issue 12; measured 3,075 on 2026-11-30, 9,349 before)


@dataclass
class Session:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    model: Canonical
    requests: list[dict[str, Any]]


def _claude(args: list[str], home: Path, api_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": api_url, "ANTHROPIC_API_KEY": "test-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        # anything not for 127.0.0.1 goes to a closed loopback port, never off the machine
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
    }
    return subprocess.run([str(npm_client("claude")), *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=home)


@pytest.fixture(scope="module")
def session(controlroom: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = tmp_path_factory.mktemp("claude-home")
    model = Canonical(SERVER)
    api = ScriptedMessagesAPI([model.answer] * 30)
    api.start()
    try:
        added = _claude(["mcp", "add", "--transport", "http", SERVER, controlroom["url"],
                         "--header", f"Authorization: Bearer {controlroom['token']}"], home, api.url)
        assert added.returncode == 0, added.stderr + added.stdout
        done = _claude(["-p", PROMPT, "--output-format", "stream-json", "--verbose",
                        "--allowedTools", f"mcp__{SERVER}__*"], home, api.url)
    finally:
        api.stop()
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    yield Session(done.returncode, events, done.stderr, model, api.requests)


def _last_is_task(body: dict[str, Any]) -> bool:
    return any(t.get("name") in ("ToolSearch", f"mcp__{SERVER}__start_testbed") for t in body.get("tools", []))


def _sizes(session: Session) -> dict[str, int]:
    return {tool: len(session.model.results[tool]) for tool in CANONICAL if tool in session.model.results}


def test_claude_code_runs_the_canonical_task(session: Session, record_property: Any) -> None:
    final = session.events[-1] if session.events else {}
    assert session.returncode == 0 and final.get("subtype") == "success", (session.stderr, final)
    assert final.get("permission_denials") == []  # --allowedTools "mcp__controlroom__*" let every call through
    called = [block["name"] for event in session.events if event.get("type") == "assistant"
              for block in event["message"]["content"] if block.get("type") == "tool_use"]
    in_order = [name for index, name in enumerate(called) if index == 0 or called[index - 1] != name]
    assert session.model.searched  # 2.1.330 defers MCP tools behind ToolSearch
    assert in_order == ["ToolSearch", *[f"mcp__{SERVER}__{tool}" for tool in CANONICAL]], called
    errors = [block for event in session.events if event.get("type") == "user"
              for block in event["message"]["content"] if block.get("type") == "tool_result" and block.get("is_error")]
    assert errors == []
    record = json.loads(session.model.results["get_workflow_execution"])
    assert record["execution_id"] == session.model.execution_id
    assert record["namespace"] == NAMESPACE
    assert record["status"] == "completed"
    assert record["stf_count"] == STF_COUNT
    sizes = _sizes(session)
    record_property("canonical_result_chars", json.dumps({**sizes, "total": sum(sizes.values())}))
    print(f"canonical tool_result sizes (chars): {sizes}, total {sum(sizes.values())}")
    assert {tool: size for tool, size in sizes.items() if size > MAX_RESULT_CHARS} == {}
    # every tool_result of the conversation Claude Code sent last (ToolSearch's included)
    last = [body for body in session.requests if body.get("messages") and _last_is_task(body)][-1]
    sent = [block for message in last["messages"] if isinstance(message.get("content"), list)
            for block in message["content"] if isinstance(block, dict) and block.get("type") == "tool_result"]
    assert len(sent) == len(called)
    assert [len(block_text(block)) for block in sent if len(block_text(block)) > MAX_RESULT_CHARS] == []


def test_canonical_results_fit_the_budget(session: Session) -> None:
    sizes = _sizes(session)
    assert set(sizes) == set(CANONICAL)
    assert sum(sizes.values()) <= CANONICAL_BUDGET_CHARS, sizes
