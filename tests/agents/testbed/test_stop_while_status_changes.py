"""An agent whose status changes while it stops still stops.

Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives while the awaited event is
being set: the heartbeat loop (``wait_for(changed.wait(), interval)`` in a loop) then never ended,
and a slice worker whose last slice flipped it busy -> ready during its shutdown hung for good
(found as an orphaned worker process, 77 minutes old, its heartbeat task 'cancelling' forever).
Timeouts are ``asyncio.timeout`` blocks now, which re-raise the cancellation.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
from pathlib import Path

from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.framework.agent import BUS_BEAT_GAP_S, Agent, AgentContext
from workflows.store.store import open_store

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("agents", "workflows", "mcp_nodes", "mcp_gateway", "prov_agent", "skills")


class FlipsOnTeardown(Agent):
    agent_type = "flips"

    async def setup(self) -> None:
        pass

    async def teardown(self) -> None:
        self._set_status("PROCESSING")  # what a worker's busy() does when its last slice is cancelled


async def test_an_agent_stops_though_its_status_changes_in_teardown(tmp_path: Path) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}") as store, EmbeddedBus() as bus:
        for n in range(5):
            agent = FlipsOnTeardown(AgentContext(namespace="flip", bus=bus, store=store, agent_id=str(n),
                                                 heartbeat_interval_s=30.0))
            run = asyncio.create_task(agent.run())
            async with asyncio.timeout(10):
                await agent.ready.wait()
            await asyncio.sleep(BUS_BEAT_GAP_S + 0.05)  # the heartbeat loop is back waiting for a change
            agent.stop()
            done, _ = await asyncio.wait({run}, timeout=10)
            if not done:
                run.cancel()
                with contextlib.suppress(BaseException):
                    await run
            assert done, f"agent {n} did not stop: its heartbeat task swallowed the cancellation"
            assert agent.status == "EXITED"


def test_no_asyncio_wait_for_in_our_packages() -> None:
    """asyncio.wait_for (3.11) can swallow a cancellation; use ``async with asyncio.timeout(s)``."""
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Attribute) and node.attr == "wait_for" and \
                        isinstance(node.value, ast.Name) and node.value.id == "asyncio":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], f"replace asyncio.wait_for with 'async with asyncio.timeout(...)' at {found}"
