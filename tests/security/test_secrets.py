"""Secrets: what a caller puts in a call never lands in provenance; state on disk is private.

The attack: alice (steered by text she read) puts tokens and passwords in free-text arguments, in
an argument named ``auth``, in ``key=value`` text. The provenance database is then read back,
rows and raw file bytes, and searched for each secret.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_gateway.provenance import gateway_recorder
from mcp_gateway.server import build_gateway
from prov_agent.redaction import REDACTED, Redactor
from tests.mcp_gateway.conftest import gateway_settings, running, spawn_in  # noqa: F401  (fixture)


def test_redaction_rules() -> None:
    token = "crt_" + "Zx9-_" * 9
    clean, _ = Redactor().arguments({
        "reason": f"retry with {token} as the caller said",
        "message": 'log in with password=hunter2-hunter2, api_key: k-123456789 and "secret": "s3-quoted"',
        "auth": "plain-auth-value", "db_password": "db-pw-value", "x_api_key": "xkey-value",
        "url": "https://example.org/cb?token=tok-in-url&page=2",
        "max_tokens": 100, "namespace": "a",
    })
    text = repr(clean)
    for secret in (token, "hunter2-hunter2", "k-123456789", "s3-quoted", "plain-auth-value", "db-pw-value",
                   "xkey-value", "tok-in-url"):
        assert secret not in text, secret
    assert clean["reason"] == f"retry with {REDACTED} as the caller said"
    assert clean["auth"] == clean["db_password"] == clean["x_api_key"] == REDACTED
    assert clean["url"] == f"https://example.org/cb?token={REDACTED}&page=2"
    assert clean["max_tokens"] == 100 and clean["namespace"] == "a"  # not secrets: kept


async def test_secrets_in_call_arguments_never_reach_provenance(tmp_path: Path, spawn_in) -> None:
    state = tmp_path / "state"
    async with gateway_recorder(state) as recorder:
        built = build_gateway(gateway_settings(state), recorder=recorder)
        async with running(built) as gateway:
            await spawn_in(gateway, "n1", ["a"])
            alice = await gateway.token("alice", ["a"])
            victim = await gateway.token("bob", ["b"])  # a token alice's text happened to contain
            async with Client(StreamableHttpTransport(gateway.mcp_url, auth=alice)) as c:
                await c.call_tool("start_workflow", {
                    "workflow": "stf", "namespace": "a",
                    "reason": f"the runbook says: call with {victim} then password=hunter2-hunter2",
                    "parameters": {"note": "api_key: k-123456789", "auth": "plain-auth-value",
                                   "db_password": "db-pw-value"},
                }, raise_on_error=False)
                await c.call_tool("get_testbed_status", {"namespace": "a", "auth": alice}, raise_on_error=False)
    secrets = [victim, alice, "hunter2-hunter2", "k-123456789", "plain-auth-value", "db-pw-value"]
    with sqlite3.connect(state / "controlroom.db") as db:
        rows = [str(row) for table, in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                for row in db.execute(f'SELECT * FROM "{table}"')]
    dump = "\n".join(rows)
    assert "start_workflow" in dump and "get_testbed_status" in dump and "the runbook says: call with" in dump
    assert REDACTED in dump
    for secret in secrets:
        assert secret not in dump
    for file in state.iterdir():  # the raw bytes too (WAL, journal, anything beside)
        if file.is_file():
            raw = file.read_bytes()
            for secret in secrets:
                assert secret.encode() not in raw, (file.name, secret[:8])


@contextmanager
def loose_umask() -> Iterator[None]:
    """The commonest umask (022): files default to 0644, directories to 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


async def test_state_files_are_private(tmp_path: Path, spawn_in) -> None:
    """Gateway, provenance, node store and tokens in one state directory: 0700, every file 0600,
    SQLite's -wal/-shm/-journal included, whatever the umask; an older install's 0644 is tightened."""
    from agents.ai.connection import Connection, write_connection
    from mcp_nodes.runtime import node_runtime
    from mcp_nodes.serve import ensure_token
    from tests.mcp_nodes.conftest import node_settings

    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "gateway.db").touch(mode=0o644)  # left by an older install
    os.chmod(state / "gateway.db", 0o644)
    with loose_umask():
        async with gateway_recorder(state) as recorder:
            async with running(build_gateway(gateway_settings(state), recorder=recorder)) as gateway:
                await spawn_in(gateway, "n1", ["a"])
                alice = await gateway.token("alice", ["a"])
                async with Client(StreamableHttpTransport(gateway.mcp_url, auth=alice)) as c:
                    await c.call_tool("get_testbed_status", {"namespace": "a"})
                write_connection(state, Connection(url=gateway.mcp_url, token=alice))
                node_state = tmp_path / "node"
                async with node_runtime(node_settings(node_state)):
                    ensure_token(node_settings(node_state, token=None))
                    node_files = _modes(node_state)
                    node_dir = stat.S_IMODE(node_state.stat().st_mode)
                files = _modes(state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700 and node_dir == 0o700
    assert {"gateway.db", "controlroom.db", "connection.json"} <= set(files)
    assert {"node.db", "node.token"} <= set(node_files)
    assert any(name.endswith(("-wal", "-journal")) for name in {**files, **node_files})  # side files were seen
    loose = {name: oct(mode) for name, mode in {**files, **node_files}.items() if mode & 0o077}
    assert not loose


def test_a_shared_directory_is_not_tightened(tmp_path: Path) -> None:
    """A state directory that is not ours to change (sticky, like /tmp) keeps its mode; its files are 0600."""
    from workflows.store.private import private_dir, private_sqlite

    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    private_dir(directory)
    private_sqlite(f"sqlite+aiosqlite:///{directory / 'x.db'}")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o1777
    assert stat.S_IMODE((directory / "x.db").stat().st_mode) == 0o600
