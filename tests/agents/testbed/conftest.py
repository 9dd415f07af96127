"""Fixtures of the testbed tests: a fresh SQLite store and an in-process manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.testbed import TestbedManager
from workflows.store.database import default_url
from workflows.store.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store.from_url(default_url(tmp_path)) as opened:
        yield opened


@pytest.fixture
async def manager(store: Store) -> AsyncIterator[TestbedManager]:
    async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="test-node",
                              heartbeat_interval_s=5.0, backoff_initial_s=0.05, backoff_max_s=0.4) as opened:
        yield opened
