"""What `controlroom up` shows and answers: one console line per user error (no traceback), the
protocol's answers (serverInfo version, unknown tool -32602, structured empty lists), a workflow
config accepted by start_testbed, and tool schemas the MCP Inspector's ``--strict`` finds portable."""

from __future__ import annotations

import io
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp import MCPError

from mcp_gateway.console import configure_console_logging
from mcp_nodes.version import node_version
from tests.support.up import start_up, stop_up

ROOT = Path(__file__).resolve().parents[2]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"


@pytest.fixture
def up(tmp_path: Path) -> Iterator[dict[str, str]]:
    process, details = start_up(tmp_path / "state")
    try:
        yield details
    finally:
        output = stop_up(process)
        assert process.returncode == 0, output


def client(details: dict[str, str]) -> Client:
    return Client(StreamableHttpTransport(details["url"], headers={"Authorization": f"Bearer {details['token']}"}),
                  timeout=60)


async def test_up_answers_as_the_protocol_and_users_expect(up: dict[str, str]) -> None:
    details = up
    async with client(details) as c:
        assert c.server_info is not None and c.server_info.version == node_version() != "4.1.2"  # not fastmcp's
        # a workflow config names the testbed to start: the default testbed with the agents it needs
        started = await c.call_tool("start_testbed", {"namespace": "alice", "config": "fast_processing_default"})
        body = started.structured_content
        assert (body["config_kind"], body["workflow_config"], body["config"]) == ("workflow", "fast_processing_default", "testbed")
        assert {"fastmon", "fast_processing"} <= {a["agent_type"] for a in body["agents"]}
        testbed = await c.call_tool("start_testbed", {"namespace": "bob", "config": "testbed"})
        assert (testbed.structured_content["config_kind"], testbed.structured_content["workflow_config"]) == ("testbed", None)
        # user errors: each an isError naming the fix
        unknown_parameter = await c.call_tool("start_workflow", {"namespace": "alice", "config": "fast_processing_default",
                                                                  "parameters": {"no_such_parameter": 1}},
                                              raise_on_error=False)
        assert unknown_parameter.is_error and "no_such_parameter" in unknown_parameter.content[0].text
        bad_config = await c.call_tool("start_testbed", {"namespace": "carol", "config": "no_such_config"},
                                       raise_on_error=False)
        assert bad_config.is_error and "workflow config" in bad_config.content[0].text
        for namespace in ("alice", "bob"):
            await c.call_tool("stop_testbed", {"namespace": namespace})
        # an empty list is structured
        pending = await c.call_tool("list_pending_fixes", {})
        assert pending.structured_content == {"items": [], "total": 0} and pending.content
    # an unknown tool: the protocol's JSON-RPC error, not an isError result
    async with httpx2.AsyncClient(timeout=30) as http:
        answer = await http.post(details["url"], json={
            "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "no_such_tool", "arguments": {}}},
            headers={"Authorization": f"Bearer {details['token']}", "Accept": "application/json, text/event-stream",
                     "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "no_such_tool"})
    reply = answer.json()
    assert reply["id"] == 7 and "result" not in reply
    assert reply["error"]["code"] == -32602 and "no_such_tool" in reply["error"]["message"]
    async with Client(StreamableHttpTransport(details["url"], headers={"Authorization": f"Bearer {details['token']}"}),
                      mode="legacy", timeout=60) as legacy:  # the handshake era (sessions) gets the same error
        with pytest.raises(MCPError) as refused:
            await legacy.call_tool("no_such_tool", {})
    assert refused.value.error.code == -32602
    if INSPECTOR.exists() or os.environ.get("CI") == "true":
        strict = subprocess.run(
            [str(INSPECTOR), "--cli", details["url"], "--transport", "http", "--method", "tools/list", "--strict",
             "--header", f"Authorization: Bearer {details['token']}"],
            capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": details["state_dir"]})
        assert strict.returncode == 0 and "Warning:" not in strict.stderr and "Error:" not in strict.stderr, strict.stderr


def test_console_shows_one_line_per_user_error(tmp_path: Path) -> None:
    """`controlroom up`'s console after three user errors: no traceback, at most one line each."""
    process, details = start_up(tmp_path / "state")
    try:
        import anyio

        async def errors() -> None:
            async with client(details) as c:
                await c.call_tool("start_testbed", {"namespace": "alice"})
                bad = await c.call_tool("start_workflow", {"namespace": "alice", "config": "fast_processing_default",
                                                           "parameters": {"no_such_parameter": 1}}, raise_on_error=False)
                assert bad.is_error and "no_such_parameter" in bad.content[0].text
                await c.call_tool("stop_testbed", {"namespace": "alice"})
                again = await c.call_tool("stop_testbed", {"namespace": "alice"}, raise_on_error=False)
                missing = await c.call_tool("start_testbed", {"namespace": "bob", "config": "no_such_config"},
                                            raise_on_error=False)
                assert missing.is_error
                print("STOP AGAIN", again.is_error, again.content[0].text if again.content else "")

        anyio.run(errors)
    finally:
        out = stop_up(process)
    assert process.returncode == 0, out
    after_banner = out.split("Ctrl-C stops everything.", 1)[1]
    lines = [line for line in after_banner.splitlines() if line.strip()]
    assert "Traceback" not in out and "Error calling tool" not in out, out
    assert len(lines) <= 3, "\n".join(lines)


def test_a_bug_is_one_console_line_and_its_traceback_is_in_the_log(tmp_path: Path) -> None:
    console = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    fastmcp_logger = logging.getLogger("fastmcp")
    saved_fastmcp = (list(fastmcp_logger.handlers), fastmcp_logger.propagate)
    try:
        log_file = configure_console_logging(tmp_path, stream=console)
        try:
            raise RuntimeError("our bug\nsecond line")
        except RuntimeError:
            logging.getLogger("mcp_nodes.edge").exception("unexpected error in tool get_run")
        logging.getLogger("fastmcp.server.server").error("Error calling tool 'get_run'", exc_info=True)
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for handler in saved_fastmcp[0]:
            fastmcp_logger.addHandler(handler)
        fastmcp_logger.propagate = saved_fastmcp[1]
    shown = console.getvalue().splitlines()
    assert len(shown) == 1 and "unexpected error in tool get_run" in shown[0], shown
    assert "RuntimeError: our bug" in shown[0] and str(log_file) in shown[0]
    logged = log_file.read_text()
    assert "Traceback" in logged and logged.count("unexpected error in tool get_run") == 1
    assert "Error calling tool" not in logged  # FastMCP's duplicate is dropped: the edge logs bugs once
