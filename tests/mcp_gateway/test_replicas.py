"""Two gateway replicas on one PostgreSQL database (`controlroom gateway serve --database-url`):
a node registered through one is routed by the other, a token revoked on one is refused by
both, and `controlroom prov verify` passes over the records both wrote (and names an edited one).

Each replica has its own state directory (its own private identity keys) and its own provenance
stream; the database is a fresh one per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mcp_gateway.auth import REFRESH_S
from mcp_gateway.provenance import gateway_recorder
from mcp_gateway.server import build_gateway
from tests.mcp_gateway.conftest import NodeProcess, RunningGateway, gateway_settings, running
from tests.mcp_gateway.test_isolation import calls_seen
from tests.support.pgdatabase import fresh_database

pytestmark = pytest.mark.postgres

CONTROLROOM = str(Path(sys.executable).with_name("controlroom"))


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_url) as url:
        yield url


@contextlib.asynccontextmanager
async def replica(state_dir: Path, database_url: str, name: str) -> AsyncIterator[RunningGateway]:
    """One replica wired like `controlroom gateway serve --database-url URL --state-dir DIR`."""
    settings = gateway_settings(state_dir, database_url=database_url, replica_id=name)
    async with gateway_recorder(state_dir, database_url, stream=settings.provenance_stream()) as recorder:
        async with running(build_gateway(settings, recorder=recorder)) as served:
            yield served


def client(url: str, token: str) -> Client:
    return Client(StreamableHttpTransport(url, auth=token))


async def jwks_kids(gateway: RunningGateway) -> set[str]:
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{gateway.url}/nodes/jwks")
    return {key["kid"] for key in response.json()["keys"]}


async def raw_call(gateway: RunningGateway, token: str, tool: str, arguments: dict[str, object]) -> httpx2.Response:
    """A tools/call POSTed without a session (what a refused client gets back, untouched)."""
    async with httpx2.AsyncClient() as http:
        return await http.post(gateway.mcp_url, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})


def prov_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CONTROLROOM, "prov", "verify", "--database-url", database_url],
                          capture_output=True, text=True, timeout=120)


async def test_two_replicas_share_nodes_tokens_and_provenance(tmp_path: Path, database_url: str) -> None:
    async with replica(tmp_path / "a", database_url, "a") as a, replica(tmp_path / "b", database_url, "b") as b:
        # each replica signs with its own private key; both hand nodes the union of the public ones
        while not await jwks_kids(b) <= await jwks_kids(a):
            await anyio.sleep(0.1)  # A reads B's published keys on its next sync (once a second)

        node_token = await a.token("n1", ["alpha"], scopes=["node"])
        node = await NodeProcess("n1", a.url, node_token, ["alpha"]).start()  # registers through A only
        try:
            alice = await a.token("alice", ["alpha"])  # created through A
            async with client(b.mcp_url, alice) as through_b:
                started = await through_b.call_tool("start_workflow", {"workflow": "stf", "namespace": "alpha"})
                assert started.structured_content["node"] == "n1"  # routed by B, signed with B's key
                execution = started.structured_content["execution_id"]
                found = await through_b.call_tool("get_workflow_execution", {"execution_id": execution})
                assert found.structured_content["node"] == "n1"
            async with client(a.mcp_url, alice) as through_a:
                listed = await through_a.call_tool("list_workflow_executions", {"namespace": "alpha"})
                assert not listed.is_error
            assert "n1" in b.gateway.registry.nodes and b.gateway.registry.nodes["n1"].health == "up"

            # revoked through A: refused by B (and A) once the cached lookup is older than REFRESH_S
            assert (await raw_call(b, alice, "noop", {})).status_code == 200
            seen = len(await calls_seen(node))
            assert await a.gateway.store.revoke_tokens(user="alice")
            await anyio.sleep(REFRESH_S * 1.2)
            for gateway in (b, a):
                refused = await raw_call(gateway, alice, "noop", {})
                assert refused.status_code == 401 and "revoked" in refused.text
            assert len(await calls_seen(node)) == seen  # the refused calls never reached the node
        finally:
            node.kill()

    # every record both replicas wrote verifies, each replica in its own stream
    verified = prov_verify(database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            streams = dict((await conn.execute(text(
                "SELECT stream, count(*) FROM prov_records WHERE kind = 'gateway_call' GROUP BY stream"))).all())
            total = (await conn.execute(text("SELECT count(*) FROM prov_records"))).scalar_one()
        assert set(streams) == {"gateway-a", "gateway-b"} and streams["gateway-b"] >= 3, streams
        assert f"verified {total} records" in verified.stdout and verified.stdout.rstrip().endswith(": ok")

        async with engine.begin() as conn:  # edit one of B's records: verify names it
            record_id = (await conn.execute(text(
                "SELECT record_id FROM prov_records WHERE stream = 'gateway-b' ORDER BY seq LIMIT 1 OFFSET 1"))).scalar_one()
            await conn.execute(text("UPDATE prov_records SET body = replace(body, 'alice', 'mallory') "
                                    "WHERE record_id = :id"), {"id": record_id})
    finally:
        await engine.dispose()
    broken = prov_verify(database_url)
    assert broken.returncode == 1 and f"record_id={record_id}" in broken.stdout and "stream=gateway-b" in broken.stdout


async def test_a_node_heartbeating_to_one_replica_stays_up_on_the_other(tmp_path: Path, database_url: str) -> None:
    """B never hears from the node: its lease on B is renewed from the rows A writes (B's view of the
    node's last heartbeat keeps advancing); once the node dies both replicas hold it down."""
    async with replica(tmp_path / "a", database_url, "a") as a, replica(tmp_path / "b", database_url, "b") as b:
        node = await NodeProcess("n1", a.url, await a.token("n1", ["alpha"], scopes=["node"]), ["alpha"]).start()
        try:
            await b.gateway.registry.refresh()
            on_b = b.gateway.registry.nodes["n1"]
            first = on_b.last_heartbeat
            assert first is not None
            for _ in range(3):  # three heartbeats that reached only A, seen by B
                seen = on_b.last_heartbeat
                while on_b.last_heartbeat == seen:
                    await anyio.sleep(0.05)
            assert on_b.last_heartbeat > first and on_b.health == "up"
            assert await calls_seen(node) == []  # B never called the node for any of it
        finally:
            node.kill()
        # the node is dead: whichever replica probes first marks it down, the other follows
        while {a.gateway.registry.nodes["n1"].health, b.gateway.registry.nodes["n1"].health} != {"down"}:
            await anyio.sleep(0.1)


async def test_replicas_starting_together_upgrade_once(tmp_path: Path, database_url: str) -> None:
    """Two replicas opening an empty database at once: one migrates, the other waits and finds head."""
    async def start(name: str) -> None:
        async with replica(tmp_path / name, database_url, name):
            pass

    await asyncio.gather(start("a"), start("b"))
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            gateway = (await conn.execute(text("SELECT version_num FROM gateway_alembic_version"))).scalars().all()
            prov = (await conn.execute(text("SELECT version_num FROM prov_alembic_version"))).scalars().all()
    finally:
        await engine.dispose()
    assert gateway == ["gateway_0003"] and prov == ["prov_0002"]


class ServeProcess:
    """`controlroom gateway serve --database-url URL` in a child process; stopped with SIGINT
    (a clean shutdown: the provenance writer flushes)."""

    def __init__(self, state_dir: Path, database_url: str, replica_id: str) -> None:
        self.args = [CONTROLROOM, "gateway", "serve", "--port", "0", "--state-dir", str(state_dir),
                     "--database-url", database_url, "--replica-id", replica_id]
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    async def start(self) -> ServeProcess:
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        line = (await anyio.to_thread.run_sync(self.process.stdout.readline)).decode()
        if not line.startswith("gateway ready at "):
            self.stop()
            raise RuntimeError(f"gateway did not start: {line!r}")
        self.url = line.removeprefix("gateway ready at ").strip().removesuffix("/mcp")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def token_cli(database_url: str, *args: str) -> str:
    done = subprocess.run([CONTROLROOM, "token", "create", "--database-url", database_url, *args],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip().splitlines()[-1]


async def test_gateway_serve_processes_share_one_postgresql_database(tmp_path: Path, database_url: str) -> None:
    """The commands as an operator types them: two `controlroom gateway serve --database-url`, tokens
    from `controlroom token create --database-url`, a node registered with the first, a client on the
    second, then `controlroom prov verify` over both replicas' streams."""
    a = await ServeProcess(tmp_path / "a", database_url, "a").start()
    b = await ServeProcess(tmp_path / "b", database_url, "b").start()
    node: NodeProcess | None = None
    try:
        node_token = token_cli(database_url, "--user", "n1", "--node", "--namespaces", "alpha")
        alice = token_cli(database_url, "--user", "alice", "--namespaces", "alpha")
        node = await NodeProcess("n1", a.url, node_token, ["alpha"]).start()
        for gateway in (b, a):
            async with client(f"{gateway.url}/mcp", alice) as c:
                started = await c.call_tool("start_workflow", {"workflow": "stf", "namespace": "alpha"})
                assert started.structured_content["node"] == "n1"
    finally:
        if node is not None:
            node.kill()
        a.stop()
        b.stop()
    verified = prov_verify(database_url)
    assert verified.returncode == 0 and verified.stdout.rstrip().endswith(": ok"), verified.stdout + verified.stderr
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            streams = set((await conn.execute(text(
                "SELECT DISTINCT stream FROM prov_records WHERE kind = 'gateway_call'"))).scalars())
    finally:
        await engine.dispose()
    assert streams == {"gateway-a", "gateway-b"}


async def test_a_key_rotated_on_one_replica_reaches_nodes_registered_through_the_other(
        tmp_path: Path, database_url: str) -> None:
    """Rotation on A: A's new current key was already published (as next), so a node registered
    through B keeps accepting A's calls; a leaked key dropped on A leaves B's JWKS too."""
    from mcp_gateway.keys import rotate_keys

    async with replica(tmp_path / "a", database_url, "a") as a, replica(tmp_path / "b", database_url, "b") as b:
        while not await jwks_kids(a) <= await jwks_kids(b):
            await anyio.sleep(0.1)
        node = await NodeProcess("n1", b.url, await b.token("n1", ["alpha"], scopes=["node"]), ["alpha"]).start()
        try:
            alice = await b.token("alice", ["alpha"])
            settings = a.gateway.settings
            rotation = rotate_keys(settings.identity_keys_path(), settings.identity_ttl_s)
            while rotation.next not in await jwks_kids(b):  # A republished, B read it
                await anyio.sleep(0.1)
            async with client(a.mcp_url, alice) as through_a:  # signed with A's new current key
                started = await through_a.call_tool("start_workflow", {"workflow": "stf", "namespace": "alpha"})
                assert started.structured_content["node"] == "n1"

            leaked = rotate_keys(settings.identity_keys_path(), settings.identity_ttl_s, drop_retired=True)
            assert rotation.retired in leaked.dropped and leaked.retired in leaked.dropped
            while set(leaked.dropped) & await jwks_kids(b):
                await anyio.sleep(0.1)
            assert leaked.current in await jwks_kids(b)
        finally:
            node.kill()


async def test_a_replica_started_after_the_node_registered_is_accepted_at_once(tmp_path: Path, database_url: str) -> None:
    """The node holds only A's keys when B starts; B's first forwarded call (well within A's one-second
    sync) carries a kid the node does not know, the node fetches A's JWKS, and A re-reads the
    published keys for that answer. (Before A re-read them per fetch, this call was refused.)"""
    async with replica(tmp_path / "a", database_url, "a") as a:
        node = await NodeProcess("n1", a.url, await a.token("n1", ["alpha"], scopes=["node"]), ["alpha"]).start()
        try:
            alice = await a.token("alice", ["alpha"])
            async with replica(tmp_path / "b", database_url, "b") as b:
                async with client(b.mcp_url, alice) as through_b:  # at once: no wait for A's next sync
                    started = await through_b.call_tool("start_workflow", {"workflow": "stf", "namespace": "alpha"})
                assert started.structured_content["node"] == "n1"
        finally:
            node.kill()
