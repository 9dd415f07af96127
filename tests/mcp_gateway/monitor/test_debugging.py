"""In a real browser: a crashed agent is debugged from the page, the policy sends the restart to a
person (ASK), the person approves it with the button, and the session goes on to fix and verify;
a second pending fix is rejected and nothing is applied."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from tests.mcp_gateway.monitor.browsing import Browser
from tests.mcp_gateway.monitor.conftest import Up
from tests.support.up import start_up, stop_up


@pytest.fixture(scope="module")
def up_ask(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`controlroom up` whose debugging policy asks a person before restarting an agent."""
    state = tmp_path_factory.mktemp("up-ask")
    policy = state.parent / "policy.toml"
    policy.write_text('[default]\nagent = "ASK"\n')
    process, details = start_up(state, "--policy", str(policy))
    try:
        yield Up(url=details["url"].removesuffix("/mcp"), state_dir=state, admin_token=details["token"])
    finally:
        stop_up(process)


def mcp(up: Up, token: str, tool: str, **arguments: Any) -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        transport = StreamableHttpTransport(f"{up.url}/mcp", headers={"Authorization": f"Bearer {token}"})
        async with Client(transport) as client:
            return (await client.call_tool(tool, arguments)).structured_content or {}

    return asyncio.run(call())


def test_a_person_approves_a_pending_fix_and_the_session_goes_on(up_ask: Up, browser: object, tmp_path: Path) -> None:
    token = up_ask.token("erin", "erin")
    with up_ask.client(token) as erin:
        assert erin.post("/ui/start/testbed", data={"namespace": "erin"}).status_code == 303
    status = mcp(up_ask, token, "get_testbed_status", namespace="erin")
    victim = next(a["name"] for a in status["agents"] if a["agent_type"] == "fastmon")
    mcp(up_ask, token, "kill_agent", name=victim, reason="failure injection")

    page = Browser(browser, up_ask.ui, tmp_path)  # type: ignore[arg-type]
    page.sign_in(token)
    page.open("debugging")
    page.wait_for("#no-pending")
    page.fill("#debug-namespace", "erin")
    page.click("#debug")
    page.wait_text("#report .outcome", lambda text: text == "awaiting_approval")
    pending = page.wait_text("#pending", lambda text: "restart_agent" in text)
    assert victim in pending
    assert mcp(up_ask, token, "get_agent", name=victim)["status"] == "EXITED"  # nothing applied before the click
    page.shot("debugging-pending")

    page.click("#pending button.approve")
    page.wait_text("#report .outcome", lambda text: text == "fixed")
    steps = page.wait_text("#report .steps", lambda text: "verification" in text)
    assert "approved by erin" in steps
    page.wait_for("#no-pending")
    page.shot("debugging-approved")
    assert mcp(up_ask, token, "get_agent", name=victim)["status"] in ("READY", "PROCESSING")

    # another crash, another pending fix: rejected this time, nothing applied
    other = next(a["name"] for a in status["agents"] if a["agent_type"] == "data")
    mcp(up_ask, token, "kill_agent", name=other, reason="failure injection")
    page.fill("#debug-namespace", "erin")
    page.click("#debug")
    page.wait_text("#pending", lambda text: other in text)
    page.click("#pending button.reject")
    page.wait_text("#report .outcome", lambda text: text == "declined")
    assert "rejected by erin" in page.wait_text("#report .steps", lambda text: "rejected" in text)
    page.wait_for("#no-pending")
    assert mcp(up_ask, token, "get_agent", name=other)["status"] == "EXITED"
