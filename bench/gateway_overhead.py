"""Gateway overhead versus calling a node directly, measured in one run.

Starts a gateway (`controlroom gateway serve`) and one sample node (tests/mcp_gateway/
sample_node.py; swap in `controlroom node serve` once that node can register) as child
processes on 127.0.0.1, then with the same fastmcp Client (default era, 2026-07-28):

- 2,000 sequential calls of the read-only no-op tool, direct and through the gateway: p50, p99;
- 50 concurrent clients, 2,000 calls in all, direct and through the gateway: calls/s;
- the routing decision with 100 registered nodes (in process): microseconds per decision.

Last line: ``ratio_p50=… ratio_p99=… throughput_ratio=… route_us=…``.
Run: .venv/bin/python bench/gateway_overhead.py [--calls 2000] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcp_gateway.auth import create_token  # noqa: E402
from mcp_gateway.catalog import build_catalog  # noqa: E402
from mcp_gateway.keys import KeyRing  # noqa: E402
from mcp_nodes.contract.identity import Identity, node_audience, sign_identity  # noqa: E402
from mcp_gateway.models import Principal  # noqa: E402
from mcp_gateway.registry import Registry  # noqa: E402
from mcp_gateway.registry_store import RegistryStore, open_engine  # noqa: E402
from mcp_gateway.breaker import Breakers  # noqa: E402
from mcp_gateway.routing import Router  # noqa: E402
from mcp_nodes.contract.registration import NodeInfo  # noqa: E402


_CLI = "import sys; from mcp_gateway.cli import main; main()"


def _line(process: subprocess.Popen[bytes], prefix: bytes) -> bytes:
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"child exited before printing {prefix!r}")
        if line.startswith(prefix):
            return line


async def _sequential(url: str, token: str, calls: int) -> list[float]:
    times: list[float] = []
    async with Client(StreamableHttpTransport(url, auth=token)) as client:
        for _ in range(50):
            await client.call_tool("noop", {})
        for _ in range(calls):
            start = time.perf_counter()
            await client.call_tool("noop", {})
            times.append(time.perf_counter() - start)
    return times


async def _throughput(url: str, token: str, clients: int, calls: int) -> float:
    per_client = calls // clients
    async with anyio.create_task_group() as group:
        opened = [Client(StreamableHttpTransport(url, auth=token)) for _ in range(clients)]
        for client in opened:
            await client.__aenter__()
            await client.call_tool("noop", {})
        start = time.perf_counter()

        async def work(client: Client) -> None:
            for _ in range(per_client):
                await client.call_tool("noop", {})

        for client in opened:
            group.start_soon(work, client)
    elapsed = time.perf_counter() - start
    for client in opened:
        await client.__aexit__(None, None, None)
    return per_client * clients / elapsed


async def _route_us(nodes: int = 100, rounds: int = 20000) -> float:
    engine = open_engine("sqlite+aiosqlite:///:memory:")
    store = RegistryStore(engine)
    await store.create_tables()
    registry = Registry(store, lease_s=10, heartbeat_s=3)
    admin = Principal(user="admin", namespaces=["*"], scopes=["node", "admin"])  # may register any node name
    tools = [{"name": name, "inputSchema": {"type": "object", "properties": {"namespace": {"type": "string"}}},
              "annotations": {"readOnlyHint": True}} for name in ("noop", "start_workflow", "get_run")]
    for i in range(nodes):
        await registry.register(NodeInfo(name=f"node-{i:03d}", url=f"http://127.0.0.1:{9000 + i}/mcp",
                                         labels={"site": f"s{i % 10}"}, namespaces=[f"ns{i}"], tools=tools),
                                admin)
    await engine.dispose()
    router = Router(registry, Breakers(3, 5.0), locate=None)  # type: ignore[arg-type]
    tool = build_catalog(s.info for s in registry.nodes.values())["start_workflow"]
    user = Principal(user="alice", namespaces=["ns57", "ns58"], labels={"site": "s7"})
    cases = [{"namespace": "ns57"}, {}, {"node": "node-042"}]
    worst = 0.0
    for arguments in cases:
        start = time.perf_counter()
        for _ in range(rounds):
            router.decide(tool, arguments, user)
        worst = max(worst, (time.perf_counter() - start) / rounds * 1e6)
    return worst


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main(calls: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CONTROLROOM_GATEWAY_RATE_PER_S": "1000000",
               "CONTROLROOM_GATEWAY_RATE_BURST": "1000000"}
        gateway = subprocess.Popen([sys.executable, "-c", _CLI, "gateway", "serve", "--port", "0",
                                    "--state-dir", str(state)], stdout=subprocess.PIPE, env=env, cwd=ROOT)
        node = None
        try:
            gateway_url = _line(gateway, b"gateway ready at ").split()[-1].decode()
            base = gateway_url.removesuffix("/mcp")
            engine = open_engine(f"sqlite+aiosqlite:///{state / 'gateway.db'}")
            store = RegistryStore(engine)
            node_token = await create_token(store, Principal(user="n1", namespaces=["a"], scopes=["node"]))
            user_token = await create_token(store, Principal(user="bench", namespaces=["a"]))
            await engine.dispose()
            node = subprocess.Popen([sys.executable, "-m", "tests.mcp_gateway.sample_node", "--name", "n1",
                                     "--gateway", base, "--token", node_token,
                                     "--namespaces", "a", "--interval", "1"], stdout=subprocess.PIPE, env=env, cwd=ROOT)
            node_url = f"http://127.0.0.1:{int(_line(node, b'READY').split()[1])}/mcp"
            # the bench reads the gateway's private key file (it owns the state directory) to call n1 directly
            signing_key = KeyRing(state / "identity-keys.json", ttl_s=3600).current()
            direct_token = sign_identity(signing_key, Identity(user="bench", namespaces=["a"], scopes=["read", "operate"]),
                                         node_audience("n1"), ttl_s=3600)

            direct = await _sequential(node_url, direct_token, calls)
            through = await _sequential(gateway_url, user_token, calls)
            direct_rate = await _throughput(node_url, direct_token, clients, calls)
            through_rate = await _throughput(gateway_url, user_token, clients, calls)
            route_us = await _route_us()
        finally:
            for child in (node, gateway):
                if child is not None:
                    child.terminate()
                    child.wait(timeout=10)
    d50, d99, g50, g99 = _pct(direct, 0.5), _pct(direct, 0.99), _pct(through, 0.5), _pct(through, 0.99)
    print(f"sequential {calls} calls: direct p50 {d50:.2f} ms p99 {d99:.2f} ms (mean {statistics.mean(direct)*1000:.2f}); "
          f"gateway p50 {g50:.2f} ms p99 {g99:.2f} ms (mean {statistics.mean(through)*1000:.2f})")
    print(f"{clients} concurrent clients: direct {direct_rate:.0f} calls/s, gateway {through_rate:.0f} calls/s")
    print(f"ratio_p50={g50 / d50:.2f} ratio_p99={g99 / d99:.2f} "
          f"throughput_ratio={through_rate / direct_rate:.2f} route_us={route_us:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.clients))
