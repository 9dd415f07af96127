"""Fixtures: a real gateway served on 127.0.0.1 in the test's event loop, tokens, and sample
nodes started as separate processes (tests/mcp_gateway/sample_node.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from mcp_gateway.auth import create_token
from mcp_gateway.models import Principal
from mcp_gateway.server import Gateway, build_gateway, serve_gateway
from mcp_gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningGateway:
    url: str
    gateway: Gateway

    @property
    def mcp_url(self) -> str:
        return self.url + "/mcp"

    async def token(self, user: str, namespaces: list[str], scopes: list[str] | None = None,
                    labels: dict[str, str] | None = None) -> str:
        """A token for ``user``; scopes default to read,operate (pass author/admin when a test needs them)."""
        return await create_token(self.gateway.store, Principal(
            user=user, namespaces=namespaces, scopes=scopes or ["read", "operate"], labels=labels or {}))


def gateway_settings(state_dir: Path, **overrides: object) -> GatewaySettings:
    # A short lease finds a dead node fast (its probe is refused at once); a live node's probe gets
    # 3 s to answer, so a loaded machine does not mark a node down that is only slow (seen in a
    # soak at load 18: "node 'n1' is down" from a 0.5 s probe of a node that was up).
    values: dict[str, object] = dict(state_dir=state_dir, port=0, lease_s=1.5,
                                     heartbeat_s=0.3, probe_timeout_s=3.0, call_timeout_s=10.0)
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    built = build_gateway(gateway_settings(tmp_path / "gw"))
    async with running(built) as running_gateway:
        yield running_gateway


@contextlib.asynccontextmanager
async def running(built: Gateway) -> AsyncIterator[RunningGateway]:
    """Serve ``built`` on a free port in a task of the current loop until the block ends."""
    ready: list[str] = []
    started, stop = anyio.Event(), anyio.Event()

    def on_ready(url: str) -> None:
        ready.append(url)
        started.set()

    task = asyncio.create_task(serve_gateway(gateway=built, ready=on_ready, stop=stop))
    try:
        with anyio.fail_after(10):
            await started.wait()
        yield RunningGateway(ready[0], built)
    finally:
        stop.set()
        await task


class NodeProcess:
    """A sample node in a child process; ``start`` waits for its READY line."""

    def __init__(self, name: str, gateway_url: str, token: str, namespaces: list[str],
                 labels: dict[str, str] | None = None, port: int = 0) -> None:
        self.name = name
        self.args = [sys.executable, "-m", "tests.mcp_gateway.sample_node", "--name", name,
                     "--gateway", gateway_url, "--token", token,
                     "--namespaces", ",".join(namespaces), "--interval", "0.3", "--port", str(port),
                     "--labels", ",".join(f"{k}={v}" for k, v in (labels or {}).items())]
        self.process: subprocess.Popen[bytes] | None = None
        self.port = port

    async def start(self) -> NodeProcess:
        self.process = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE,
                                        env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.process.stdout is not None
        line = await anyio.to_thread.run_sync(self.process.stdout.readline)
        if not line.startswith(b"READY"):
            self.kill()
            raise RuntimeError(f"node {self.name} did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)


@pytest.fixture
async def spawn_in() -> AsyncIterator:
    """``await spawn_in(gateway, name, namespaces)`` starts a registered sample node; killed at the end."""
    started: list[NodeProcess] = []

    async def start(gateway: RunningGateway, name: str, namespaces: list[str],
                    labels: dict[str, str] | None = None, port: int = 0) -> NodeProcess:
        token = await gateway.token(name, namespaces, scopes=["node"])  # the node may hold these only
        node = await NodeProcess(name, gateway.url, token, namespaces, labels, port).start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.kill(signal.SIGTERM)


@pytest.fixture
async def spawn(gateway: RunningGateway, spawn_in) -> AsyncIterator:  # type: ignore[no-untyped-def]
    """``await spawn(name, namespaces)``: `spawn_in` bound to the ``gateway`` fixture."""

    async def start(name: str, namespaces: list[str], labels: dict[str, str] | None = None,
                    port: int = 0) -> NodeProcess:
        return await spawn_in(gateway, name, namespaces, labels, port)

    yield start
