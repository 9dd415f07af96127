"""A message that keeps failing is given back a bounded number of times, then dead-lettered."""

from __future__ import annotations

import asyncio

import pytest

from agents.testbed.bus.base import Bus, Delivery, destination
from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.bus.stomp import StompBus


@pytest.fixture(params=["embedded", pytest.param("stomp", marks=pytest.mark.activemq)])
def bus_with_two_redeliveries(request: pytest.FixtureRequest) -> Bus:
    if request.param == "embedded":
        return EmbeddedBus(max_redeliveries=2)
    host, port = request.getfixturevalue("stomp_address")
    return StompBus(host, port, max_redeliveries=2)


async def test_poison_message_stops_after_max_redeliveries(bus_with_two_redeliveries: Bus, namespace: str) -> None:
    queue = destination(namespace, "queue", "poison")
    attempts: list[int] = []
    healthy = asyncio.Event()
    given_up = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        if delivery.body.get("poison"):
            attempts.append(delivery.redeliveries)
            if len(attempts) == 3:
                given_up.set()
            raise ValueError("cannot process this slice")
        healthy.set()
        await delivery.ack()

    async with bus_with_two_redeliveries as bus:
        await bus.subscribe(queue, handler, ack="client")
        await bus.publish(queue, {"poison": True})
        await bus.publish(queue, {"poison": False})
        await asyncio.wait_for(healthy.wait(), 10)
        await asyncio.wait_for(given_up.wait(), 10)
        await asyncio.sleep(0.3)  # a further attempt would show up here
    assert attempts == [0, 1, 2]
    if isinstance(bus, EmbeddedBus):
        assert bus.dead_letters == [(queue, {"poison": True})]
