from __future__ import annotations

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport


async def test_smoke(gateway, spawn) -> None:
    await spawn("n1", ["a"])
    token = await gateway.token("alice", ["a"])
    async with Client(StreamableHttpTransport(gateway.mcp_url, auth=token)) as client:
        tools = await client.list_tools()
        print(sorted(t.name for t in tools))
        result = await client.call_tool("start_workflow", {"workflow": "stf", "namespace": "a"})
        print(result)
        print(await client.call_tool("list_nodes", {}))
