"""Fixtures for the bus tests: each contract test runs against both adapters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from agents.testbed.bus.base import Bus
from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.bus.stomp import StompBus

BusFactory = Callable[[], Awaitable[Bus]]


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses, so leftovers on the broker never leak between tests."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture(params=["embedded", pytest.param("stomp", marks=pytest.mark.activemq)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """A factory of connected buses of one adapter; an embedded factory returns one shared bus
    (several buses in one process would be several brokers), a STOMP one a new connection."""
    opened: list[Bus] = []
    shared = EmbeddedBus()

    async def factory() -> Bus:
        if request.param == "embedded":
            if not opened:
                await shared.connect()
                opened.append(shared)
            return shared
        host, port = request.getfixturevalue("stomp_address")
        bus = StompBus(host, port, connect_timeout_s=5.0)
        await bus.connect()
        opened.append(bus)
        return bus

    yield factory
    for bus in reversed(opened):
        await bus.close()
