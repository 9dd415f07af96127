"""Past debugging sessions on the Debugging page (`list_debug_sessions`): a session started over
MCP shows there for its namespace's token and never for another namespace's; pages are bounded."""

from __future__ import annotations

import html
import re

import pytest

from tests.mcp_gateway.monitor.conftest import Up
from tests.mcp_gateway.monitor.test_debugging import mcp

ALICE_SESSIONS = 12  # more than the page's 10


def sessions_on(up: Up, token: str, query: str = "") -> tuple[list[str], str | None]:
    """The session ids the Debugging page lists (in order) and its "older sessions" link."""
    with up.client(token) as client:
        page = client.get(f"/ui/debugging{query}")
    assert page.status_code == 200, page.text
    listed = page.text.split("<h2>Sessions</h2>", 1)[1]
    older = re.search(r'<a href="([^"]+)" id="sessions-older">', page.text)
    return re.findall(r'data-session="([0-9a-f]+)"', listed), html.unescape(older.group(1)) if older else None


@pytest.fixture(scope="module")
def sessions(up: Up) -> dict[str, object]:
    alice, bob = up.token("alice", "alice"), up.token("bob", "bob")
    started = [mcp(up, alice, "debug_execution", namespace="alice")["session_id"] for _ in range(ALICE_SESSIONS)]
    theirs = mcp(up, bob, "debug_execution", namespace="bob")["session_id"]
    return {"alice": alice, "bob": bob, "alice_sessions": started, "bob_session": theirs}


def test_a_session_started_over_mcp_shows_for_its_namespace_only(up: Up, sessions: dict) -> None:
    alice_ids, bob_id = sessions["alice_sessions"], sessions["bob_session"]
    first, older = sessions_on(up, sessions["alice"])
    assert first == alice_ids[::-1][:10]  # newest first, one page of 10
    assert older is not None
    rest, last = sessions_on(up, sessions["alice"], older)
    assert rest == alice_ids[::-1][10:] and last is None
    assert bob_id not in first + rest

    theirs, _ = sessions_on(up, sessions["bob"])
    assert theirs == [bob_id]
    with up.client(sessions["bob"]) as client:
        assert not any(sid in client.get("/ui/debugging").text for sid in alice_ids)
        # asking for alice's namespace is refused, not answered empty
        refused = client.get("/ui/debugging?namespace=alice")
    assert "not granted" in refused.text and not any(sid in refused.text for sid in alice_ids)

    admin_first, _ = sessions_on(up, up.admin_token)
    assert admin_first[0] == bob_id and set(admin_first[1:]) <= set(alice_ids)


def test_the_tool_pages_are_bounded_and_carry_the_steps(up: Up, sessions: dict) -> None:
    page = mcp(up, sessions["alice"], "list_debug_sessions", limit=5)
    assert [s["session_id"] for s in page["items"]] == sessions["alice_sessions"][::-1][:5]
    assert page["total"] == ALICE_SESSIONS and page["next_cursor"]
    assert all(s["steps"] and s["namespace"] == "alice" for s in page["items"])
    seen = [s["session_id"] for s in page["items"]]
    while page["next_cursor"]:
        page = mcp(up, sessions["alice"], "list_debug_sessions", limit=5, cursor=page["next_cursor"])
        seen += [s["session_id"] for s in page["items"]]
    assert seen == sessions["alice_sessions"][::-1]
    with pytest.raises(Exception, match="limit must be between 1 and 50"):
        mcp(up, sessions["alice"], "list_debug_sessions", limit=51)
    with pytest.raises(Exception, match="not granted"):
        mcp(up, sessions["bob"], "list_debug_sessions", namespace="alice")
