"""Two sample nodes in separate processes behind one gateway: routing, node loss and return."""

from __future__ import annotations

import signal

import anyio
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from tests.mcp_gateway.conftest import NodeProcess


def client(url: str, token: str, **kwargs: object) -> Client:
    return Client(StreamableHttpTransport(url, auth=token), **kwargs)  # type: ignore[arg-type]


def route_of(result) -> dict:  # type: ignore[no-untyped-def]
    return result.meta["controlroom/route"]


async def node_health(c: Client, name: str) -> str:
    result = await c.call_tool("get_node", {"name": name})
    return result.structured_content["health"]


async def test_namespaces_route_to_their_nodes_and_ids_to_their_owner(gateway, spawn) -> None:
    await spawn("n1", ["a"])
    await spawn("n2", ["b"])
    admin = await gateway.token("admin", ["*"])
    async with client(gateway.mcp_url, admin) as c:
        on_a = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "a"})
        on_b = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "b"})
        assert (on_a.structured_content["node"], route_of(on_a)) == ("n1", {"node": "n1", "reason": "namespace"})
        assert (on_b.structured_content["node"], route_of(on_b)) == ("n2", {"node": "n2", "reason": "namespace"})
        execution_id = on_b.structured_content["execution_id"]

        learnt = await c.call_tool("get_workflow_execution", {"execution_id": execution_id})
        assert learnt.structured_content["node"] == "n2"
        assert route_of(learnt) == {"node": "n2", "reason": "entity"}

        gateway.gateway.router.owners.clear()  # forget: the gateway must ask the nodes
        located = await c.call_tool("get_workflow_execution", {"execution_id": execution_id})
        assert located.structured_content["node"] == "n2" and route_of(located)["reason"] == "entity"

        forced = await c.call_tool("get_testbed_status", {"namespace": "b", "node": "n1"})
        assert forced.structured_content == {"namespace": "b", "node": "n1", "ready": False}
        assert route_of(forced)["reason"] == "explicit"

        unknown = await c.call_tool("get_workflow_execution", {"execution_id": "nope-x-0001"},
                                    raise_on_error=False)
        assert unknown.is_error and "unknown execution" in unknown.content[0].text and "list_workflow_executions" in unknown.content[0].text


async def test_killed_node_goes_down_fails_fast_and_comes_back(gateway, spawn) -> None:
    await spawn("n1", ["a"])
    n2: NodeProcess = await spawn("n2", ["b"])
    admin = await gateway.token("admin", ["*"])
    lease = gateway.gateway.settings.lease_s
    async with client(gateway.mcp_url, admin) as c:
        assert await node_health(c, "n2") == "up"
        n2.kill(signal.SIGKILL)

        failed = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "b"}, raise_on_error=False)
        # fails fast: on the refused connection (or the health probe that saw it first), not after
        # the call timeout; a timing bound flaked under load, the gateway's reason says which it was
        text = failed.content[0].text
        assert failed.is_error and ("node 'n2' is unreachable" in text or "node 'n2' is down since" in text), text
        assert "did not answer" not in text

        with anyio.fail_after(lease):
            while await node_health(c, "n2") != "down":
                await anyio.sleep(0.05)
        down = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "b"}, raise_on_error=False)
        text = down.content[0].text
        assert down.is_error and "node 'n2' is down since" in text and "list_nodes" in text

        fine = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "a"})
        assert fine.structured_content["node"] == "n1"

        restarted = await spawn("n2", ["b"], port=n2.port)
        assert restarted.port == n2.port
        assert await node_health(c, "n2") == "up"
        back = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "b"})
        assert back.structured_content["node"] == "n2" and not back.is_error
