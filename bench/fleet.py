"""Many nodes at once, as a user who outgrew one machine runs them: one gateway and N nodes as
separate processes on ActiveMQ and PostgreSQL, concurrent executions while clients read.

What it starts (every process through the `controlroom` CLI, as README's many-nodes recipe):

- fresh PostgreSQL databases on the server of ``--admin-url`` (as tests/support/pgdatabase.py
  does), or on a cluster of its own with ``--private-postgres N``: one for the gateway (registry,
  tokens, provenance), one per node (its store; its provenance stays in SQLite in its state
  directory); all dropped at the end;
- ``controlroom gateway serve --database-url ...`` and ``--nodes`` × ``controlroom node --bus stomp
  --stomp ... --database-url ...``; node i's token holds the namespaces ns-j with j % nodes == i;
- per namespace a driver (its own operate token): start_testbed, then, all at once,
  start_workflow (simulated time, ``--stf-count`` STFs, ``--workers`` slice workers) and
  wait_for_execution until finished;
- ``--clients`` readers (each its own read token for one namespace) calling read tools through the
  gateway (testbed status, executions, slices, agents, logs) until the last execution finished.

Printed: the idle gateway's CPU per node heartbeat, aggregate slices/s (slices done in all
executions / wall time from the first start_workflow to the last finish), the readers' call
latency through the gateway (p50/p99), the gateway's CPU per routed call (from /proc, over the
same window; heartbeats included), the nodes' own CPU, the most PostgreSQL connections (all, the
gateway's database, the busiest node's) and STOMP connections seen, and the load average. Every
process it started is stopped (also on Ctrl-C, SIGTERM or an error): nodes first (they stop their
agents and deregister), then the gateway; the databases are dropped. docs/scaling.md has the
figures and what they predict.

Last line: ``fleet nodes=… namespaces=… clients=… slices_per_s=… read_p50_ms=… read_p99_ms=…
gateway_cpu_us_per_call=… pg_connections=… stomp_connections=…``.
Run: .venv/bin/python bench/fleet.py [--nodes 8] [--namespaces 16] [--clients 50] [--stf-count 20] [--workers 2] [--private-postgres 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import cpu_seconds, load_average  # noqa: E402

ADMIN_URL = "postgresql+asyncpg://controlroom:controlroom-ci-password@127.0.0.1:5432/controlroom_ci"
HEARTBEAT_S = 3.0
"""The gateway's heartbeat period (CONTROLROOM_GATEWAY_HEARTBEAT_S default), which nodes follow."""
READ_TOOLS = ("get_testbed_status", "list_workflow_executions", "list_tf_slices", "list_agents", "list_logs")


# --- processes -------------------------------------------------------------------------------------

@dataclass
class Child:
    """A started CLI process, its log file and the line that says it serves."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{self.name} did not print {prefix!r} (exit code {self.process.poll()}):\n{tail}")


@dataclass
class Fleet:
    """Everything started, to stop in order: nodes, then the gateway."""

    directory: Path
    env: dict[str, str]
    nodes: list[Child] = field(default_factory=list)
    gateway: Child | None = None

    def start(self, name: str, *arguments: str) -> Child:
        log = self.directory / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "mcp_gateway.cli", *arguments], stdout=out,
                                       stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, start_new_session=True)
        return Child(name, process, log)

    def stop(self) -> None:
        """SIGINT to every node (they stop their testbeds and deregister), then the gateway; SIGKILL to
        the process group of any that has not exited within 30 s."""
        for group in (self.nodes, [self.gateway] if self.gateway else []):
            for child in group:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 30
            for child in group:
                try:
                    child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.process.pid, signal.SIGKILL)
                    child.process.wait()


# --- databases -------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def fresh_databases(admin_url: str, count: int) -> AsyncIterator[list[str]]:
    """``count`` new databases on the server of ``admin_url``; dropped (connections ended) after."""
    names = [f"controlroom_fleet_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []
    try:
        async with admin.connect() as conn:
            for name in names:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
                created.append(name)
        yield [make_url(admin_url).set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        async with admin.connect() as conn:
            for name in created:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@dataclass
class Connections:
    """The most connections seen at once: PostgreSQL on all the bench's databases, on the gateway's
    and on the busiest node's; STOMP connections to the broker beyond those open before the fleet."""

    total: int = 0
    gateway: int = 0
    node: int = 0
    stomp: int = 0
    stomp_before: int = 0


def stomp_connections(port: int) -> int:
    """Established TCP connections to ``port`` on this machine (/proc/net/tcp, IPv4)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
            count += 1
    return count


@contextlib.contextmanager
def private_postgres(max_connections: int) -> Iterator[str]:
    """A PostgreSQL cluster of its own (initdb, pg_ctl; run as the ``postgres`` user when root) on a
    free loopback port, with ``max_connections``; yields its admin URL; stopped and removed after.

    For fleets larger than a shared server's max_connections (100 by default): every agent process
    of every testbed holds connections to its node's database (docs/scaling.md)."""
    import shutil
    import socket

    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = Path(shutil.which("initdb") or (binaries[-1] if binaries else "initdb"))
    pg_ctl = initdb.with_name("pg_ctl")
    directory = Path(tempfile.mkdtemp(prefix="fleet-pg-"))  # in /tmp: the postgres user can reach it
    data = directory / "data"
    data.mkdir(mode=0o700)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(directory, "postgres")
        shutil.chown(data, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run([*as_user, str(initdb), "-D", str(data), "-A", "trust", "-U", "fleet"], check=True,
                   stdout=subprocess.DEVNULL)
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c max_connections={max_connections} -c fsync=off"
    subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-o", options, "-l", str(directory / "postgres.log"),
                    "-w", "start"], check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"postgresql+asyncpg://fleet@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"], check=False,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(directory, ignore_errors=True)


async def sample_connections(admin_url: str, databases: list[str], peak: Connections, stomp_port: int,
                             stop: asyncio.Event) -> None:
    """Update ``peak`` from pg_stat_activity and /proc/net/tcp every second until ``stop``."""
    names = [make_url(url).database for url in databases]
    engine = create_async_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        while not stop.is_set():
            async with engine.connect() as conn:
                rows = (await conn.execute(text("SELECT datname, count(*) FROM pg_stat_activity "
                                                "WHERE datname = ANY(:n) GROUP BY datname"), {"n": names})).all()
            counts = {name: int(count) for name, count in rows}
            peak.total = max(peak.total, sum(counts.values()))
            peak.gateway = max(peak.gateway, counts.get(names[0], 0))
            peak.node = max([peak.node, *(counts.get(n, 0) for n in names[1:])])
            peak.stomp = max(peak.stomp, stomp_connections(stomp_port) - peak.stomp_before)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await engine.dispose()


async def make_tokens(gateway_database: str, nodes: int, namespaces: list[str], clients: int) -> dict[str, Any]:
    """Node tokens (each holding its namespaces), a driver token per namespace, a read token per reader."""
    from mcp_gateway.auth import create_token
    from mcp_gateway.models import Principal
    from mcp_gateway.registry_store import RegistryStore, open_engine

    engine = open_engine(gateway_database)
    try:
        store = RegistryStore(engine)
        node_tokens = [await create_token(store, Principal(
            user=f"node-{i}", namespaces=[ns for j, ns in enumerate(namespaces) if j % nodes == i] or ["none"],
            scopes=["node"])) for i in range(nodes)]
        drivers = {ns: await create_token(store, Principal(user=f"user-{j}", namespaces=[ns], scopes=["read", "operate"]))
                   for j, ns in enumerate(namespaces)}
        readers = [(namespaces[k % len(namespaces)], await create_token(store, Principal(
            user=f"reader-{k}", namespaces=[namespaces[k % len(namespaces)]], scopes=["read"]))) for k in range(clients)]
        admin = await create_token(store, Principal(user="fleet-admin", namespaces=["*"], scopes=["read", "operate", "admin"]))
    finally:
        await engine.dispose()
    return {"nodes": node_tokens, "drivers": drivers, "readers": readers, "admin": admin}


# --- calls -----------------------------------------------------------------------------------------

@dataclass
class Calls:
    """Client-side latencies of calls through the gateway, by who made them."""

    reads: list[float] = field(default_factory=list)
    driver: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.reads) + len(self.driver)


async def timed(client: Client, tool: str, arguments: dict[str, Any], into: list[float], calls: Calls) -> Any:
    start = time.perf_counter()
    result = await client.call_tool(tool, arguments, raise_on_error=False, timeout=600)
    into.append(time.perf_counter() - start)
    if result.is_error:
        text_ = result.content[0].text if result.content else "?"
        calls.errors.append(f"{tool}: {text_[:200]}")
        return None
    return result.structured_content


def connect(url: str, token: str) -> Client:
    return Client(StreamableHttpTransport(url, auth=token), timeout=600)


@dataclass
class Execution:
    namespace: str
    execution_id: str | None = None
    started: float = 0.0
    finished: float = 0.0
    slices: int = 0


async def drive(url: str, token: str, execution: Execution, parameters: dict[str, int], go: asyncio.Event,
                ready: list[str], calls: Calls) -> None:
    """start_testbed, wait for it; on ``go`` start_workflow and wait_for_execution until finished."""
    ns = execution.namespace
    async with connect(url, token) as client:
        await timed(client, "start_testbed", {"namespace": ns, "reason": "bench/fleet.py"}, calls.driver, calls)
        deadline = time.monotonic() + 300
        while True:
            status = await timed(client, "get_testbed_status", {"namespace": ns}, calls.driver, calls)
            if status and status.get("ready"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"testbed {ns} not ready after 300 s: {status}")
            await asyncio.sleep(0.5)
        ready.append(ns)
        await go.wait()
        execution.started = time.perf_counter()
        view = await timed(client, "start_workflow", {"namespace": ns, "parameters": parameters,
                                                      "reason": "bench/fleet.py"}, calls.driver, calls)
        if view is None:
            raise RuntimeError(f"start_workflow in {ns} failed: {calls.errors[-1]}")
        execution.execution_id = view["execution_id"]
        while True:
            waited = await timed(client, "wait_for_execution", {"execution_id": execution.execution_id,
                                                                "timeout_s": 30}, calls.driver, calls)
            if waited and waited.get("finished"):
                break
        execution.finished = time.perf_counter()
        page = await timed(client, "list_tf_slices", {"execution_id": execution.execution_id, "status": "done",
                                                      "limit": 1}, calls.driver, calls)
        execution.slices = int(page["total"]) if page else 0


async def read(url: str, namespace: str, token: str, executions: dict[str, Execution], stop: asyncio.Event,
               calls: Calls, think_s: float, offset: int) -> None:
    """Read tools in turn through the gateway until ``stop``."""
    async with connect(url, token) as client:
        for index in itertools.count(offset):
            if stop.is_set():
                return
            tool = READ_TOOLS[index % len(READ_TOOLS)]
            arguments: dict[str, Any] = {"namespace": namespace}
            known = executions[namespace].execution_id
            if tool == "list_tf_slices" and known is not None:
                arguments = {"execution_id": known}
            await timed(client, tool, arguments, calls.reads, calls)
            if think_s:
                await asyncio.sleep(think_s)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- the run ---------------------------------------------------------------------------------------

async def wait_for_nodes(url: str, token: str, count: int, timeout: float = 120) -> None:
    async with connect(url, token) as client:
        deadline = time.monotonic() + timeout
        while True:
            result = await client.call_tool("list_nodes", {"limit": 1000}, raise_on_error=False)
            up = [n for n in (result.structured_content or {}).get("items", []) if n.get("health") == "up"]
            if len(up) >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(up)} of {count} nodes up after {timeout:.0f} s")
            await asyncio.sleep(0.5)


async def run(args: argparse.Namespace, fleet: Fleet) -> None:
    namespaces = [f"ns-{j:02d}" for j in range(args.namespaces)]
    load_start = load_average()
    async with fresh_databases(args.admin_url, 1 + args.nodes) as databases:
        try:
            stomp_port = int(args.stomp.rsplit(":", 1)[1])
            stomp_before = stomp_connections(stomp_port)
            gateway_db, node_dbs = databases[0], databases[1:]
            fleet.gateway = fleet.start("gateway", "gateway", "serve", "--port", "0", "--state-dir",
                                        str(fleet.directory / "gateway"), "--database-url", gateway_db)
            gateway_url = fleet.gateway.wait_for("gateway ready at ", 120).split()[-1]
            base = gateway_url.removesuffix("/mcp")
            tokens = await make_tokens(gateway_db, args.nodes, namespaces, args.clients)
            for i in range(args.nodes):
                node_dir = fleet.directory / f"node-{i}"
                fleet.nodes.append(fleet.start(
                    f"node-{i}", "node", "--name", f"node-{i}", "--gateway", base, "--token", tokens["nodes"][i],
                    "--port", "0", "--state-dir", str(node_dir), "--bus", "stomp", "--stomp", args.stomp,
                    "--database-url", node_dbs[i]))
            for i, node in enumerate(fleet.nodes):
                node.wait_for(f"controlroom node node-{i}: MCP at ", 180)
            await wait_for_nodes(gateway_url, tokens["admin"], args.nodes)
            idle_cpu, idle_s = cpu_seconds(fleet.gateway.process.pid), 12.0
            await asyncio.sleep(idle_s)  # nodes heartbeat, nobody calls: the registry's own cost
            idle_cpu = cpu_seconds(fleet.gateway.process.pid) - idle_cpu
            print(f"{args.nodes} nodes up behind {gateway_url}; idle gateway {idle_cpu / idle_s * 100:.1f}% of a core "
                  f"(heartbeats every {HEARTBEAT_S:g} s: {idle_cpu / (args.nodes * idle_s / HEARTBEAT_S) * 1e3:.1f} ms "
                  f"per heartbeat); starting {args.namespaces} testbeds", flush=True)

            calls = Calls()
            parameters = {"stf_count": args.stf_count, "target_worker_count": args.workers,
                          "max_worker_count": args.workers, "worker_count_min": 1}
            executions = {ns: Execution(ns) for ns in namespaces}
            go, stop, ready = asyncio.Event(), asyncio.Event(), []
            stop_sampling, peak = asyncio.Event(), Connections(stomp_before=stomp_before)
            sampler = asyncio.create_task(sample_connections(args.admin_url, databases, peak, stomp_port, stop_sampling))
            drivers = [asyncio.create_task(drive(gateway_url, tokens["drivers"][ns], executions[ns], parameters,
                                                 go, ready, calls)) for ns in namespaces]
            while len(ready) < len(namespaces):
                failed = [d for d in drivers if d.done() and d.exception()]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
                await asyncio.sleep(0.2)
            print(f"{len(ready)} testbeds ready; {args.clients} readers start, then the executions", flush=True)
            readers = [asyncio.create_task(read(gateway_url, ns, token, executions, stop, calls, args.think_s, k))
                       for k, (ns, token) in enumerate(tokens["readers"])]
            await asyncio.sleep(2)  # readers connected and calling
            calls.reads.clear()
            calls.driver.clear()
            calls.errors.clear()
            gateway_pid, node_pids = fleet.gateway.process.pid, [n.process.pid for n in fleet.nodes]
            cpu_gateway, cpu_nodes = cpu_seconds(gateway_pid), sum(cpu_seconds(p) for p in node_pids)
            window = time.perf_counter()
            go.set()
            try:
                await asyncio.gather(*drivers)
            finally:
                stop.set()
                elapsed = time.perf_counter() - window
                routed = calls.count
                gateway_cpu = cpu_seconds(gateway_pid) - cpu_gateway
                nodes_cpu = sum(cpu_seconds(p) for p in node_pids) - cpu_nodes
                await asyncio.gather(*readers, return_exceptions=True)
                stop_sampling.set()
                await sampler
            load_end = load_average()
            async with connect(gateway_url, tokens["admin"]) as client:  # stop the testbeds before the nodes stop
                await asyncio.gather(*(client.call_tool("stop_testbed", {"namespace": ns}, raise_on_error=False)
                                       for ns in namespaces))
        finally:
            await asyncio.to_thread(fleet.stop)  # before the databases are dropped

    slices = sum(e.slices for e in executions.values())
    span = max(e.finished for e in executions.values()) - min(e.started for e in executions.values())
    durations = [e.finished - e.started for e in executions.values()]
    rate = slices / span
    cpu_us = gateway_cpu / routed * 1e6 if routed else float("nan")
    print(f"executions: {len(executions)} x {args.stf_count} STFs, {slices} slices done in {span:.1f} s "
          f"(each {min(durations):.1f}-{max(durations):.1f} s, median {statistics.median(durations):.1f})")
    print(f"calls through the gateway in the window: {routed} in {elapsed:.1f} s ({routed / elapsed:.1f}/s); "
          f"reads {len(calls.reads)} p50 {pct(calls.reads, 0.5):.1f} ms p99 {pct(calls.reads, 0.99):.1f} ms; "
          f"driver calls {len(calls.driver)} (wait_for_execution blocks up to 30 s); errors {len(calls.errors)}")
    for error in sorted(set(calls.errors))[:5]:
        print(f"  error: {error}")
    print(f"gateway CPU {gateway_cpu:.1f} s = {gateway_cpu / elapsed * 100:.0f}% of a core, {cpu_us:.0f} us per "
          f"routed call; nodes' own CPU (agents excluded) {nodes_cpu:.1f} s; PostgreSQL connections at most {peak.total} "
          f"(gateway's database {peak.gateway}, busiest node's {peak.node}), STOMP connections {peak.stomp}; load average {load_start} at start, {load_end} at end")
    print(f"fleet nodes={args.nodes} namespaces={args.namespaces} clients={args.clients} slices_per_s={rate:.0f} "
          f"read_p50_ms={pct(calls.reads, 0.5):.1f} read_p99_ms={pct(calls.reads, 0.99):.1f} "
          f"gateway_cpu_us_per_call={cpu_us:.0f} pg_connections={peak.total} stomp_connections={peak.stomp}")


@contextlib.contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """SIGTERM ends the bench like Ctrl-C does (the fleet is stopped either way)."""
    def handler(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--namespaces", type=int, default=16, help="one testbed and one execution each")
    parser.add_argument("--clients", type=int, default=50, help="concurrent readers")
    parser.add_argument("--stf-count", type=int, default=20, help="STFs per execution (15 slices each)")
    parser.add_argument("--think-s", type=float, default=0.0, help="pause between a reader's calls")
    parser.add_argument("--stomp", default="127.0.0.1:61613", help="ActiveMQ STOMP host:port")
    parser.add_argument("--workers", type=int, default=2, help="slice workers per execution (each a process)")
    parser.add_argument("--admin-url", default=os.environ.get("CONTROLROOM_TEST_POSTGRES_URL", ADMIN_URL),
                        help="PostgreSQL URL allowed to CREATE DATABASE")
    parser.add_argument("--private-postgres", type=int, metavar="MAX_CONNECTIONS", default=0,
                        help="start a PostgreSQL cluster of its own with this max_connections instead of using "
                             "--admin-url's server (a fleet of 8 nodes x 16 testbeds needs more than 100)")
    args = parser.parse_args()
    if args.nodes < 1 or args.namespaces < 1 or args.clients < 0:
        parser.error("--nodes and --namespaces must be at least 1, --clients at least 0")
    with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
        directory = Path(tmp)
        (directory / "home").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
        env |= {"HOME": str(directory / "home"), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        fleet = Fleet(directory, env)
        try:
            with interrupts_as_keyboard(), contextlib.ExitStack() as stack:
                if args.private_postgres:
                    args.admin_url = stack.enter_context(private_postgres(args.private_postgres))
                asyncio.run(run(args, fleet))
        except KeyboardInterrupt:
            print("interrupted: stopping the fleet", file=sys.stderr)
            return 130
        finally:
            fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
