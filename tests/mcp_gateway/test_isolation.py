"""A token for namespace A can never act on namespace B; no token, no entry."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_gateway.calls import ROUTE_META
from mcp_gateway.models import CallRecord
from tests.mcp_gateway.conftest import NodeProcess


def client(url: str, token: str) -> Client:
    return Client(StreamableHttpTransport(url, auth=token))


class Records:
    """The gateway's call records (a `CallObserver`)."""

    def __init__(self) -> None:
        self.items: list[CallRecord] = []

    async def on_call(self, record: CallRecord) -> None:
        self.items.append(record)


async def calls_seen(node: NodeProcess) -> list[dict[str, Any]]:
    """The tools/call requests ``node`` itself received (sample_node's GET /calls)."""
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{node.port}/calls")
    response.raise_for_status()
    return response.json()


async def test_token_for_a_cannot_touch_b(gateway, spawn) -> None:
    """Every call of alice's on b is refused BY THE GATEWAY: no node ever sees it (a node's own
    refusal would pass a weaker test with the gateway's checks removed)."""
    n1 = await spawn("n1", ["a"])
    n2 = await spawn("n2", ["b"])
    records = Records()
    gateway.gateway.add_observer(records)
    alice = await gateway.token("alice", ["a"])
    bob = await gateway.token("bob", ["b"])
    async with client(gateway.mcp_url, bob) as c:
        created = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "b"})
        b_execution = created.structured_content["execution_id"]
    gateway.gateway.router.owners.clear()  # alice's reads must not depend on what bob's calls taught
    async with client(gateway.mcp_url, alice) as c:
        calls = [
            ("start_workflow", {"workflow": "stf", "namespace": "b"}),
            ("start_testbed", {"namespace": "b"}),
            ("get_testbed_status", {"namespace": "b", "node": "n2"}),
            ("get_workflow_execution", {"execution_id": b_execution}),
            ("stop_workflow", {"execution_id": b_execution}),
            ("wait_for_execution", {"execution_id": b_execution, "timeout_s": 1}),
            ("get_workflow_execution", {"execution_id": b_execution, "node": "n2"}),
        ]
        for tool, arguments in calls:
            result = await c.call_tool(tool, arguments, raise_on_error=False)
            assert result.is_error, (tool, arguments, result)
            assert ROUTE_META not in (result.meta or {}), (tool, "the gateway routed it to a node")
            (record,) = [r for r in records.items if r.user == "alice"][-1:]
            assert record.tool == tool and record.node is None and record.outcome != "ok", record
        assert {"tool": "start_workflow", "user": "bob"} in await calls_seen(n2)  # the node does record
        for node in (n1, n2):
            assert [seen for seen in await calls_seen(node) if seen["user"] == "alice"] == [], node.name
        listed = await c.call_tool("list_workflow_executions", {"node": "n2"})
        assert listed.structured_content["items"] == []  # the node filters by the identity it was given
        whoami = await c.call_tool("whoami", {})
        assert whoami.structured_content["namespaces"] == ["a"]
    async with client(gateway.mcp_url, bob) as c:
        still = await c.call_tool("get_workflow_execution", {"execution_id": b_execution})
        assert still.structured_content["status"] == "running"


async def test_unauthenticated_requests_get_401(gateway) -> None:
    async with httpx2.AsyncClient() as http:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = await http.post(gateway.mcp_url, headers=headers, json={
                "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
        registered = await http.post(gateway.url + "/nodes/register", json={"name": "x", "url": "http://x/mcp"})
        assert registered.status_code == 401
    with pytest.raises(Exception):
        async with client(gateway.mcp_url, "wrong"):
            pass


async def test_a_user_token_cannot_register_a_node(gateway) -> None:
    alice = await gateway.token("alice", ["a"])
    node_token = await gateway.token("n1", [], scopes=["node"])
    info = {"name": "n2", "url": "http://127.0.0.1:1/mcp"}
    async with httpx2.AsyncClient(base_url=gateway.url) as http:
        as_user = await http.post("/nodes/register", json=info, headers={"Authorization": f"Bearer {alice}"})
        assert as_user.status_code == 403 and "node" in as_user.json()["error"]
        other_name = await http.post("/nodes/register", json=info, headers={"Authorization": f"Bearer {node_token}"})
        assert other_name.status_code == 403
        bad = await http.post("/nodes/register", json={"name": "n1", "url": "ftp://x"},
                              headers={"Authorization": f"Bearer {node_token}"})
        assert bad.status_code == 422 and "url" in bad.json()["error"]
