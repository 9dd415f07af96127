"""`serve_node` registers with a real gateway, is reachable through it with the caller's identity,
and deregisters on a clean stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fastmcp import Client

from mcp_gateway.auth import create_token
from mcp_gateway.models import Principal
from mcp_gateway.server import build_gateway, serve_gateway
from mcp_gateway.settings import GatewaySettings
from mcp_nodes.serve import serve_node
from tests.mcp_nodes.conftest import node_settings


async def until(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_node_registers_serves_through_gateway_and_deregisters(tmp_path: Path) -> None:
    gateway = build_gateway(GatewaySettings(state_dir=tmp_path / "gw", port=0,
                                            heartbeat_s=0.3, lease_s=3.0))
    urls: dict[str, str] = {}
    stop_gateway = asyncio.Event()
    gw_task = asyncio.create_task(serve_gateway(gateway=gateway, ready=lambda url: urls.__setitem__("gw", url),
                                                stop=stop_gateway))  # type: ignore[arg-type]
    node_task: asyncio.Task[None] | None = None
    try:
        await until(lambda: "gw" in urls)
        node_token = await create_token(gateway.store, Principal(user="reg-node", namespaces=["*"], scopes=["node"]))
        alice = await create_token(gateway.store, Principal(user="alice", namespaces=["alice"]))
        settings = node_settings(tmp_path / "node", name="reg-node", gateway=urls["gw"], identity_jwks=None,
                                 gateway_token=node_token, labels={"site": "test"})
        node_task = asyncio.create_task(serve_node(settings, started=lambda url: urls.__setitem__("node", url)))
        await until(lambda: "node" in urls)  # started: serving, and already registered with the gateway
        assert gateway.registry.nodes["reg-node"].health == "up"
        info = gateway.registry.nodes["reg-node"].info
        assert info.url == urls["node"] and info.labels == {"site": "test"}
        assert {t["name"] for t in info.tools} >= {"start_testbed", "wait_for_execution", "list_logs"}

        async with Client(urls["gw"] + "/mcp", auth=alice, timeout=60) as client:
            state = await client.call_tool("get_system_state", {"namespace": "alice"})
            assert state.structured_content["node"]["name"] == "reg-node"
            status = await client.call_tool("start_testbed", {"namespace": "alice", "reason": "via gateway"})
            assert status.structured_content["namespace"] == "alice"
            denied = await client.call_tool("get_testbed_status", {"namespace": "bob"}, raise_on_error=False)
            text = denied.content[0].text
            # refused by the gateway for the namespace (never routed), and the reason names it and the fix
            assert denied.is_error and "controlroom/route" not in (denied.meta or {}), denied
            assert "'bob'" in text and "not granted" in text and "'alice'" in text and "--namespaces bob" in text, text
        await until(lambda: "alice" in gateway.registry.nodes["reg-node"].namespaces)

        node_task.cancel()
        await asyncio.gather(node_task, return_exceptions=True)
        node_task = None
        await until(lambda: "reg-node" not in gateway.registry.nodes
                    or gateway.registry.nodes["reg-node"].health != "up")
    finally:
        if node_task is not None:
            node_task.cancel()
            await asyncio.gather(node_task, return_exceptions=True)
        stop_gateway.set()
        await asyncio.wait_for(gw_task, timeout=15)
