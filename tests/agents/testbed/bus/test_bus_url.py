"""`bus_from_url`: the one place a bus URL becomes an adapter."""

from __future__ import annotations

import pytest

from agents.testbed.bus import EMBEDDED, InvalidBusUrl, bus_from_url, bus_url
from agents.testbed.bus import stomp_address as address_of
from agents.testbed.bus.base import Delivery, destination
from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.bus.stomp import StompBus

from .inbox import Inbox


def test_embedded_url_gives_a_new_private_embedded_bus() -> None:
    first, second = bus_from_url(EMBEDDED), bus_from_url("embedded")
    assert isinstance(first, EmbeddedBus) and isinstance(second, EmbeddedBus)
    assert first is not second


def test_stomp_url_gives_a_stomp_bus_at_that_address() -> None:
    bus = bus_from_url("stomp://127.0.0.1:61613")
    assert isinstance(bus, StompBus)
    assert (bus.host, bus.port) == ("127.0.0.1", 61613)


def test_bus_url_and_stomp_address_round_trip() -> None:
    assert bus_url(None) == EMBEDDED
    assert address_of(bus_url(("127.0.0.1", 61613))) == ("127.0.0.1", 61613)
    assert address_of(EMBEDDED) is None


@pytest.mark.parametrize("url", ["", "inprocess", "127.0.0.1:61613", "amqp://h:1", "stomp://h", "stomp://:61613",
                                 "stomp://h:port", "stomp://h:0", "stomp://h:70000"])
def test_a_bad_url_is_refused_naming_it_and_the_forms(url: str) -> None:
    with pytest.raises(InvalidBusUrl, match="stomp://127.0.0.1:61613") as caught:
        bus_from_url(url)
    assert repr(url) in str(caught.value)


async def test_an_embedded_bus_from_a_url_carries_messages() -> None:
    async with bus_from_url(EMBEDDED) as bus:
        inbox = Inbox()

        async def handler(delivery: Delivery) -> None:
            inbox.add(delivery.body)

        topic = destination("urlns", "topic", "t")
        await bus.subscribe(topic, handler)
        await bus.publish(topic, {"n": 1})
        assert await inbox.wait_for(1) == [{"n": 1}]


@pytest.mark.activemq
async def test_a_stomp_bus_from_a_url_carries_messages(stomp_address: tuple[str, int]) -> None:
    async with bus_from_url(bus_url(stomp_address)) as bus:
        inbox = Inbox()

        async def handler(delivery: Delivery) -> None:
            inbox.add(delivery.body)

        topic = destination("urlns", "topic", "t")
        await bus.subscribe(topic, handler)
        await bus.publish(topic, {"n": 1})
        assert await inbox.wait_for(1) == [{"n": 1}]


def test_no_module_outside_the_bus_package_constructs_an_adapter() -> None:
    """The adapter is chosen in one place: only agents/testbed/bus/ calls StompBus(...) or EmbeddedBus(...)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    bus_package = root / "agents" / "testbed" / "bus"
    offenders = []
    for package in ("mcp_gateway", "mcp_nodes", "agents", "workflows", "prov_agent", "skills"):
        for path in sorted((root / package).rglob("*.py")):
            if bus_package in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                    if name in ("StompBus", "EmbeddedBus"):
                        offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == [], f"construct buses with agents.testbed.bus.bus_from_url, not: {offenders}"
