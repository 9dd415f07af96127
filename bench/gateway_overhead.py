"""Gateway overhead versus calling a node directly, direct and gateway rounds alternating in one run.

Starts a gateway (`controlroom gateway serve`, provenance recording on, as users run it) and one
sample node (tests/mcp_gateway/sample_node.py) as child processes on 127.0.0.1. Then, for each of
``--rounds`` rounds (direct first in even rounds, gateway first in odd ones, so neither always
runs on the warmer machine), each way:

- ``--calls`` sequential calls of the read-only no-op tool over one fastmcp Client (default era,
  2026-07-28): p50, p99;
- ``--clients`` concurrent clients sharing ``--concurrent-calls`` calls: calls/s.

A round gives three ratios (gateway/direct p50, p99, throughput); the figure is the median of
each over the rounds, so one noisy second on a shared machine cannot decide it; the spread (min
to max) is printed beside it. Also printed: the gateway's and the node's CPU per call (from
/proc), the routing decision with 100 registered nodes (in process), and the load average.

``--profile FILE`` runs the gateway under cProfile during the gateway rounds only (pstats file).

Last line: ``gateway_overhead p50_ratio=… p99_ratio=… throughput_ratio=… gateway_cpu_us=… route_us=…``.
Run: .venv/bin/python bench/gateway_overhead.py [--rounds 5] [--calls 400] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import cpu_seconds, load_average  # noqa: E402
from mcp_gateway.auth import create_token  # noqa: E402
from mcp_gateway.breaker import Breakers  # noqa: E402
from mcp_gateway.tool_catalog import build_catalog  # noqa: E402
from mcp_gateway.keys import KeyRing  # noqa: E402
from mcp_gateway.models import Principal  # noqa: E402
from mcp_gateway.registry import Registry  # noqa: E402
from mcp_gateway.registry_store import RegistryStore, open_engine  # noqa: E402
from mcp_gateway.routing import Router  # noqa: E402
from mcp_nodes.contract.identity import Identity, node_audience, sign_identity  # noqa: E402
from mcp_nodes.contract.registration import NodeInfo  # noqa: E402

_CLI = "import sys; from mcp_gateway.cli import main; main()"
_PROFILED_CLI = """
import cProfile, os, signal, time
profile = cProfile.Profile(time.thread_time)  # CPU of the event loop's thread, not wall time
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
signal.signal(signal.SIGUSR2, lambda *_: profile.disable())
def _stop(*_):
    profile.disable()
    profile.dump_stats(os.environ["BENCH_PROFILE"])
    os._exit(0)
signal.signal(signal.SIGTERM, _stop)
from mcp_gateway.cli import main
main()
"""


@dataclass
class Round:
    """One way (direct or gateway) in one round."""

    p50_ms: float
    p99_ms: float
    calls_per_s: float
    server_cpu_us: float  # the gateway's (or, direct, the node's) CPU per call over the round


def _line(process: subprocess.Popen[bytes], prefix: bytes) -> bytes:
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"child exited before printing {prefix!r}")
        if line.startswith(prefix):
            return line


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class _Window:
    """The server's CPU (from /proc) over the timed parts only; with a profiled gateway, its profiler
    runs in exactly those parts (SIGUSR1 on, SIGUSR2 off)."""

    def __init__(self, pid: int, profiled: subprocess.Popen[bytes] | None) -> None:
        self.pid = pid
        self.profiled = profiled
        self.cpu_s = 0.0
        self._started = 0.0

    def open(self) -> None:
        if self.profiled is not None:
            self.profiled.send_signal(signal.SIGUSR1)
        self._started = cpu_seconds(self.pid)

    def close(self) -> None:
        self.cpu_s += cpu_seconds(self.pid) - self._started
        if self.profiled is not None:
            self.profiled.send_signal(signal.SIGUSR2)


async def _sequential(client: Client, calls: int, window: _Window) -> list[float]:
    times: list[float] = []
    window.open()
    for _ in range(calls):
        start = time.perf_counter()
        await client.call_tool("noop", {})
        times.append(time.perf_counter() - start)
    window.close()
    return times


async def _throughput(url: str, token: str, clients: int, calls: int, window: _Window) -> float:
    """Calls/s of ``clients`` concurrent clients (opened and warmed outside the window)."""
    per_client = max(1, calls // clients)
    opened = [Client(StreamableHttpTransport(url, auth=token)) for _ in range(clients)]
    try:
        for client in opened:
            await client.__aenter__()
            await client.call_tool("noop", {})

        async def work(client: Client) -> None:
            for _ in range(per_client):
                await client.call_tool("noop", {})

        window.open()
        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            for client in opened:
                group.start_soon(work, client)
        elapsed = time.perf_counter() - start
        window.close()
    finally:
        for client in opened:
            await client.__aexit__(None, None, None)
    return per_client * clients / elapsed


async def _one_way(client: Client, url: str, token: str, pid: int, calls: int, clients: int,
                   concurrent_calls: int, profiled: subprocess.Popen[bytes] | None) -> Round:
    window = _Window(pid, profiled)
    times = await _sequential(client, calls, window)
    rate = await _throughput(url, token, clients, concurrent_calls, window)
    served = calls + max(1, concurrent_calls // clients) * clients  # the timed calls only
    return Round(_pct(times, 0.5), _pct(times, 0.99), rate, window.cpu_s / served * 1e6)


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


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _stop(child: subprocess.Popen[bytes] | None) -> None:
    if child is None or child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


async def main(rounds: int, calls: int, clients: int, concurrent_calls: int, profile: Path | None) -> None:
    loads = [load_average()]
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CONTROLROOM_GATEWAY_RATE_PER_S": "1000000",
               "CONTROLROOM_GATEWAY_RATE_BURST": "1000000"}
        if profile is not None:
            env["BENCH_PROFILE"] = str(profile.resolve())
        gateway = subprocess.Popen([sys.executable, "-c", _PROFILED_CLI if profile else _CLI, "gateway", "serve",
                                    "--port", "0", "--state-dir", str(state)], stdout=subprocess.PIPE, env=env, cwd=ROOT)
        node = None
        results: dict[str, list[Round]] = {"direct": [], "gateway": []}
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
            ways = {"direct": (node_url, direct_token, node.pid), "gateway": (gateway_url, user_token, gateway.pid)}
            async with Client(StreamableHttpTransport(node_url, auth=direct_token)) as direct_client, \
                    Client(StreamableHttpTransport(gateway_url, auth=user_token)) as gateway_client:
                held = {"direct": direct_client, "gateway": gateway_client}
                for client in held.values():  # warm both paths (connections, caches, the JIT-less interpreter)
                    for _ in range(50):
                        await client.call_tool("noop", {})
                for index in range(rounds):
                    order = ("direct", "gateway") if index % 2 == 0 else ("gateway", "direct")
                    for way in order:
                        url, token, pid = ways[way]
                        profiled = gateway if profile is not None and way == "gateway" else None
                        results[way].append(await _one_way(held[way], url, token, pid, calls, clients,
                                                           concurrent_calls, profiled))
                    d, g = results["direct"][-1], results["gateway"][-1]
                    print(f"round {index + 1}: direct p50 {d.p50_ms:.2f} p99 {d.p99_ms:.2f} ms "
                          f"{d.calls_per_s:.0f}/s (node {d.server_cpu_us:.0f} us CPU/call); gateway p50 "
                          f"{g.p50_ms:.2f} p99 {g.p99_ms:.2f} ms {g.calls_per_s:.0f}/s "
                          f"(gateway {g.server_cpu_us:.0f} us CPU/call); ratios {g.p50_ms / d.p50_ms:.2f} "
                          f"{g.p99_ms / d.p99_ms:.2f} {g.calls_per_s / d.calls_per_s:.2f}; load {load_average()}",
                          flush=True)
                    loads.append(load_average())
            route_us = await _route_us()
        finally:
            _stop(node)
            _stop(gateway)
    pairs = list(zip(results["direct"], results["gateway"], strict=True))
    p50 = [g.p50_ms / d.p50_ms for d, g in pairs]
    p99 = [g.p99_ms / d.p99_ms for d, g in pairs]
    rate = [g.calls_per_s / d.calls_per_s for d, g in pairs]
    gateway_cpu = statistics.median(g.server_cpu_us for _, g in pairs)
    node_cpu = statistics.median(d.server_cpu_us for d, _ in pairs)
    print(f"{rounds} rounds of {calls} sequential calls and {clients} clients x {concurrent_calls // clients} calls "
          f"each way; load average {loads[0]} at start, {loads[-1]} at end")
    print(f"median (min-max) over rounds: p50 ratio {_spread(p50)}, p99 ratio {_spread(p99)}, "
          f"throughput ratio {_spread(rate)}")
    print(f"CPU per call: gateway {gateway_cpu:.0f} us, node {node_cpu:.0f} us (direct); routing decision "
          f"{route_us:.1f} us with 100 nodes")
    if profile is not None:
        print(f"profile of the gateway rounds: {profile} (python -m pstats)")
    print(f"gateway_overhead p50_ratio={statistics.median(p50):.2f} p99_ratio={statistics.median(p99):.2f} "
          f"throughput_ratio={statistics.median(rate):.2f} gateway_cpu_us={gateway_cpu:.0f} route_us={route_us:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each one direct and one gateway (>= 5)")
    parser.add_argument("--calls", type=int, default=400, help="sequential calls per round and way")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients in the throughput part")
    parser.add_argument("--concurrent-calls", type=int, default=1000, help="calls shared by the clients per round")
    parser.add_argument("--profile", type=Path, default=None, help="write the gateway's cProfile stats here")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.calls, args.clients, args.concurrent_calls, args.profile))
