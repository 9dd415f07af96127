"""The gateway restarted under load: its nodes are back within one lease and no call record is
lost for a call that got an answer.

Two sample nodes (child processes) stay up; four callers post ``tools/call`` without a session
(the 2026-07-28 era, so a call does not depend on the gateway that served the previous one)
while the gateway stops and a new one starts on the same port and state directory. Each answered
call carries a unique workflow name; after the run every one of them must be in the gateway's
provenance records.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from mcp_gateway.auth import create_token
from mcp_gateway.models import Principal
from mcp_gateway.server import build_gateway, serve_gateway
from prov_agent.recorder import Recorder
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter
from tests.faults.services import free_port
from tests.mcp_gateway.conftest import NodeProcess, gateway_settings

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

ERA = "2026-07-28"
LEASE_S = 3.0
CALLERS = 4


@dataclass
class Load:
    """Callers posting start_workflow with unique workflow names; what was answered and what failed."""

    url: str
    token: str
    answered: list[str] = field(default_factory=list)
    refused: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def caller(self, n: int) -> None:
        headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": ERA,
                   "mcp-method": "tools/call", "mcp-name": "start_workflow", "authorization": f"Bearer {self.token}"}
        meta = {"io.modelcontextprotocol/protocolVersion": ERA, "io.modelcontextprotocol/clientCapabilities": {}}
        i = 0
        async with httpx2.AsyncClient(timeout=30) as http:
            while not self.stop.is_set():
                i += 1
                marker = f"load{n}x{i}"
                body = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
                    "name": "start_workflow", "arguments": {"workflow": marker, "namespace": "ab"[n % 2]},
                    "_meta": meta}}
                try:
                    reply = await http.post(self.url, json=body, headers=headers)
                    result = _result(reply)
                except (httpx2.HTTPError, OSError, ValueError):
                    result = None
                if result is not None and not result.get("isError") and marker in json.dumps(result):
                    self.answered.append(marker)
                else:
                    self.refused += 1
                    await asyncio.sleep(0.05)


def _result(reply: httpx2.Response) -> dict[str, Any] | None:
    if reply.status_code != 200:
        return None
    text = reply.text
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        text = [line[5:] for line in text.splitlines() if line.startswith("data:")][-1]
    return json.loads(text).get("result")


@contextlib.asynccontextmanager
async def gateway_on(state_dir: Path, port: int, prov: ProvStore) -> AsyncIterator[Any]:
    """One incarnation of the gateway: its own provenance writer, served until the block ends."""
    async with ProvWriter(prov) as writer:
        built = build_gateway(gateway_settings(state_dir, port=port, lease_s=LEASE_S, heartbeat_s=0.3),
                              recorder=Recorder(writer, stream="gateway"))
        started, stop = anyio.Event(), anyio.Event()
        task = asyncio.create_task(serve_gateway(gateway=built, ready=lambda _url: started.set(), stop=stop))
        try:
            with anyio.fail_after(30):
                await started.wait()
            yield built
        finally:
            stop.set()
            await task


async def test_gateway_restart_under_load(tmp_path: Path) -> None:
    state_dir, port = tmp_path / "gw", free_port()
    url = f"http://127.0.0.1:{port}"
    engine = engine_for(state_dir=state_dir)
    prov = ProvStore(engine)
    await prov.create_schema()
    nodes: list[NodeProcess] = []
    callers: list[asyncio.Task[None]] = []
    try:
        async with gateway_on(state_dir, port, prov) as first:
            user = await create_token(first.store, Principal(user="loader", namespaces=["a", "b"],
                                                             scopes=["read", "operate"]))
            for name, namespace in (("n1", "a"), ("n2", "b")):
                token = await create_token(first.store, Principal(user=name, namespaces=[namespace], scopes=["node"]))
                nodes.append(await NodeProcess(name, url, token, [namespace]).start())
            load = Load(url + "/mcp", user)
            callers += [asyncio.create_task(load.caller(n)) for n in range(CALLERS)]
            async with asyncio.timeout(60):
                while len(load.answered) < 40:
                    await asyncio.sleep(0.05)
            answered_before = len(load.answered)
        # the first gateway is gone (its writer flushed); the callers keep calling into the gap
        restarted_at = datetime.now(UTC)
        async with gateway_on(state_dir, port, prov) as second:
            with anyio.fail_after(LEASE_S):  # every node heartbeats the new gateway within one lease
                while not all((s := second.registry.nodes.get(n.name)) is not None and s.health == "up"
                              and s.last_heartbeat is not None and s.last_heartbeat > restarted_at for n in nodes):
                    await asyncio.sleep(0.05)
            async with asyncio.timeout(60):
                while len(load.answered) < answered_before + 40:
                    await asyncio.sleep(0.05)
            load.stop.set()
            await asyncio.gather(*callers)
        records = [row.body for row in await prov.records(stream="gateway")]
        assert (await prov.verify()).ok
    finally:
        for caller in callers:
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        for node in nodes:
            node.kill(signal.SIGTERM)
        await engine.dispose()

    recorded = Counter(recorded_workflows(records))
    lost = sorted(set(load.answered) - set(recorded))
    print(f"gateway restart: {len(load.answered)} calls answered ({answered_before} before the restart), "
          f"{load.refused} refused or failed during it, {len(lost)} answered without a record")
    assert len(load.answered) >= answered_before + 40
    assert lost == [], f"answered calls without a call record: {lost[:10]}"
    assert all(recorded[marker] == 1 for marker in load.answered), "an answered call recorded twice"


def recorded_workflows(bodies: list[str]) -> list[str]:
    """The ``workflow`` argument of every start_workflow call record that ended ``ok``."""
    found = []
    for body in bodies:
        for element in json.loads(body).get("elements", []):
            attrs = element.get("attrs", {})
            if attrs.get("tool") == "start_workflow" and attrs.get("outcome") == "ok":
                found.append(json.loads(attrs["arguments"])["workflow"])
    return found
