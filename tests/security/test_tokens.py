"""Tokens: `controlroom token create|list|revoke` through the real CLI, and a running gateway that
refuses a revoked or expired token (attacker row 8: a revoked token kept working until restart)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.shared.exceptions import MCPError

from mcp_gateway.auth import REFRESH_S, create_token
from mcp_gateway.models import Principal
from mcp_gateway.server import build_gateway
from tests.mcp_gateway.conftest import ROOT, gateway_settings, running

LIST_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`controlroom token ...` as a user runs it (a child process through the real entry point)."""
    return subprocess.run([sys.executable, "-m", "mcp_gateway.cli", "token", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


async def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await anyio.to_thread.run_sync(lambda: cli(*args))


async def whoami(mcp_url: str, token: str) -> dict[str, object]:
    async with Client(StreamableHttpTransport(mcp_url, auth=token)) as client:
        result = await client.call_tool("whoami", {})
    return result.structured_content or {}


async def status_of(mcp_url: str, token: str) -> int:
    """The HTTP status a bare MCP request with ``token`` gets (401 when the gateway refuses the token)."""
    async with httpx2.AsyncClient() as http:
        response = await http.post(mcp_url, json=LIST_CALL, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"})
    return response.status_code


def test_create_list_revoke_through_the_cli(tmp_path: Path) -> None:
    state = str(tmp_path)
    created = cli("create", "--user", "alice", "--namespaces", "a,b", "--state-dir", state)
    assert created.returncode == 0, created.stdout + created.stderr
    alice_token = created.stdout.strip()
    assert alice_token.startswith("crt_")
    author = cli("create", "--user", "carol", "--namespaces", "c", "--scopes", "read,author", "--expires", "30d",
                 "--state-dir", state)
    node = cli("create", "--user", "n1", "--node", "--state-dir", state)
    assert author.returncode == 0 and node.returncode == 0

    listing = cli("list", "--state-dir", state)
    assert listing.returncode == 0, listing.stderr
    assert alice_token not in listing.stdout and author.stdout.strip() not in listing.stdout  # never the token
    rows = {line.split()[1]: line.split() for line in listing.stdout.splitlines()[1:]}
    assert rows["alice"][2:4] == ["a,b", "read,operate"] and rows["alice"][-2:] == ["never", "no"]
    assert rows["carol"][2:4] == ["c", "read,author"]
    expires = datetime.fromisoformat(rows["carol"][5])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    assert rows["n1"][3] == "node"

    bad = cli("create", "--user", "eve", "--scopes", "root", "--state-dir", state)
    assert bad.returncode == 2 and "unknown scope 'root'" in bad.stdout
    users = [line.split()[1] for line in cli("list", "--state-dir", state).stdout.splitlines()[1:]]
    assert users == ["alice", "carol", "n1"]  # a refused create stores nothing

    revoked = cli("revoke", "--id", rows["carol"][0], "--state-dir", state)
    assert revoked.returncode == 0 and rows["carol"][0] in revoked.stdout
    by_user = cli("revoke", "--user", "alice", "--state-dir", state)
    assert by_user.returncode == 0
    after = {line.split()[1]: line.split() for line in cli("list", "--state-dir", state).stdout.splitlines()[1:]}
    assert after["alice"][-1] == "yes" and after["carol"][-1] == "yes" and after["n1"][-1] == "no"
    again = cli("revoke", "--user", "alice", "--state-dir", state)
    assert again.returncode == 1 and "no live token" in again.stdout


async def test_a_revoked_token_is_refused_by_running_gateways(tmp_path: Path) -> None:
    """Two gateway replicas share one database; the CLI revokes; both refuse the token with 401."""
    state = tmp_path / "gw"
    first = build_gateway(gateway_settings(state))
    second = build_gateway(gateway_settings(state))
    async with running(first) as one, running(second) as two:
        created = await run_cli("create", "--user", "mallory", "--namespaces", "m", "--state-dir", str(state))
        token = created.stdout.strip()
        for replica in (one, two):
            assert (await whoami(replica.mcp_url, token))["user"] == "mallory"  # cached by both now
        async with Client(StreamableHttpTransport(one.mcp_url, auth=token)) as session:  # a session left open
            assert not (await session.call_tool("whoami", {})).is_error
            revoked = await run_cli("revoke", "--user", "mallory", "--state-dir", str(state))
            assert revoked.returncode == 0, revoked.stdout
            await anyio.sleep(2 * REFRESH_S)  # the documented bound: refused within 1 s
            for replica in (one, two):
                assert await status_of(replica.mcp_url, token) == 401
            with pytest.raises(MCPError):  # the open session's next call fails too (its HTTP answer is the 401)
                await session.call_tool("whoami", {})
        other = await create_token(first.store, Principal(user="bob", namespaces=["b"]))
        assert (await whoami(one.mcp_url, other))["user"] == "bob"  # only the revoked token is refused


async def test_an_expired_token_is_refused(tmp_path: Path) -> None:
    built = build_gateway(gateway_settings(tmp_path / "gw"))
    async with running(built) as gateway:
        past = await run_cli("create", "--user", "old", "--namespaces", "a", "--expires", "2020-01-01T00:00:00Z",
                             "--state-dir", str(tmp_path / "gw"))
        assert past.returncode == 0
        assert await status_of(gateway.mcp_url, past.stdout.strip()) == 401

        soon = datetime.now(UTC) + timedelta(seconds=5)
        token = await create_token(built.store, Principal(user="brief", namespaces=["a"]), expires_at=soon)
        assert (await whoami(gateway.mcp_url, token))["user"] == "brief"  # valid (and cached) until then
        await anyio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
        assert await status_of(gateway.mcp_url, token) == 401
        async with httpx2.AsyncClient() as http:
            response = await http.post(gateway.mcp_url, json=LIST_CALL, headers={"Authorization": f"Bearer {token}"})
        assert "expired" in response.json()["error_description"]


async def test_an_ambiguous_id_revokes_nothing(tmp_path: Path) -> None:
    from mcp_gateway.errors import RegistryError
    from mcp_gateway.registry_store import RegistryStore, open_engine

    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    try:
        store = RegistryStore(engine)
        await store.create_tables()
        for n in range(40):  # 40 tokens: some two share a first hex digit
            await create_token(store, Principal(user=f"u{n}", namespaces=["a"]))
        ids = [token.id for token in await store.list_tokens()]
        shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
        try:
            await store.revoke_tokens(token_id=shared)
        except RegistryError as error:
            assert "matches" in str(error)
        else:
            raise AssertionError("an id prefix matching several tokens revoked them")
        assert not any(token.revoked for token in await store.list_tokens())
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_revocation_reaches_replicas_sharing_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The production shape: replicas on one PostgreSQL database, the CLI revoking on it."""
    import uuid

    user = f"mallory-{uuid.uuid4().hex[:8]}"  # the scratch database is shared with other tests
    replicas = [build_gateway(gateway_settings(tmp_path / name, database_url=postgres_url)) for name in ("a", "b")]
    async with running(replicas[0]) as one, running(replicas[1]) as two:
        created = await run_cli("create", "--user", user, "--namespaces", "m", "--database-url", postgres_url)
        assert created.returncode == 0, created.stdout + created.stderr
        token = created.stdout.strip()
        for replica in (one, two):
            assert (await whoami(replica.mcp_url, token))["user"] == user
        revoked = await run_cli("revoke", "--user", user, "--database-url", postgres_url)
        assert revoked.returncode == 0, revoked.stdout
        await anyio.sleep(2 * REFRESH_S)
        for replica in (one, two):
            assert await status_of(replica.mcp_url, token) == 401
