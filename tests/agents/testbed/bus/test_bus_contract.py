"""The bus contract, run against both adapters (embedded, and STOMP on a real ActiveMQ)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from agents.testbed.bus.base import Delivery, destination
from agents.testbed.bus.errors import BusClosedError, BusError

from .conftest import BusFactory
from .inbox import Inbox


async def test_topic_fans_out_to_every_subscriber_in_order(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    topic = destination(namespace, "topic", "epictopic")
    inboxes = [Inbox(), Inbox()]
    for inbox in inboxes:
        async def handler(delivery: Delivery, inbox: Inbox = inbox) -> None:
            inbox.add(delivery.body)
        await bus.subscribe(topic, handler)
    for n in range(5):
        await bus.publish(topic, {"n": n})
    for inbox in inboxes:
        assert [b["n"] for b in await inbox.wait_for(5)] == [0, 1, 2, 3, 4]


async def test_queue_gives_each_message_to_exactly_one_competing_consumer(
    make_bus: BusFactory, namespace: str
) -> None:
    queue = destination(namespace, "queue", "slices")
    seen = Inbox()
    per_consumer: Counter[int] = Counter()
    for worker in range(3):
        bus = await make_bus()

        async def handler(delivery: Delivery, worker: int = worker) -> None:
            per_consumer[worker] += 1
            await asyncio.sleep(0.002)  # a little work, so a busy consumer is passed over
            seen.add(delivery.body)
            await delivery.ack()

        await bus.subscribe(queue, handler, ack="client", prefetch=1)
    publisher = await make_bus()
    for n in range(30):
        await publisher.publish(queue, {"n": n})
    bodies = await seen.wait_for(30)
    await asyncio.sleep(0.1)  # room for a wrongly duplicated delivery to show up
    assert sorted(b["n"] for b in bodies) == list(range(30))
    assert len(seen.bodies) == 30
    assert sum(1 for count in per_consumer.values() if count > 0) >= 2, per_consumer


async def test_unacked_message_is_redelivered_to_another_consumer_when_cancelled(
    make_bus: BusFactory, namespace: str
) -> None:
    bus = await make_bus()
    queue = destination(namespace, "queue", "work")
    first: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()

    async def keeps_it(delivery: Delivery) -> None:
        if not first.done():
            first.set_result(delivery)  # and never acks

    subscription = await bus.subscribe(queue, keeps_it, ack="client", prefetch=2)
    await bus.publish(queue, {"job": "a"})
    held = await asyncio.wait_for(first, 10)
    assert held.redelivered is False
    await subscription.cancel()

    other = await make_bus()
    again = Inbox()
    deliveries: list[Delivery] = []

    async def takes_it(delivery: Delivery) -> None:
        deliveries.append(delivery)
        again.add(delivery.body)
        await delivery.ack()

    await other.subscribe(queue, takes_it, ack="client")
    assert await again.wait_for(1) == [{"job": "a"}]
    assert deliveries[0].redelivered is True
    assert deliveries[0].redeliveries >= 1


async def test_handler_exception_gets_the_message_redelivered(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    queue = destination(namespace, "queue", "flaky")
    attempts: list[Delivery] = []
    done = Inbox()

    async def flaky(delivery: Delivery) -> None:
        attempts.append(delivery)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails on purpose")
        done.add(delivery.body)
        await delivery.ack()

    await bus.subscribe(queue, flaky, ack="client")
    await bus.publish(queue, {"slice_id": 7})
    assert await done.wait_for(1) == [{"slice_id": 7}]
    assert [a.redelivered for a in attempts] == [False, True]
    assert attempts[1].redeliveries == 1


async def test_nack_gives_the_message_back(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    queue = destination(namespace, "queue", "nacked")
    attempts: list[Delivery] = []
    done = Inbox()

    async def handler(delivery: Delivery) -> None:
        attempts.append(delivery)
        if len(attempts) < 3:
            await delivery.nack()
            return
        done.add(delivery.body)
        await delivery.ack()

    await bus.subscribe(queue, handler, ack="client")
    await bus.publish(queue, {"slice_id": 1})
    await done.wait_for(1)
    assert [a.redeliveries for a in attempts] == [0, 1, 2]


async def test_expired_messages_are_dropped_not_delivered(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    queue = destination(namespace, "queue", "ttl")
    await bus.publish(queue, {"n": "expires"}, ttl_s=0.2)
    await bus.publish(queue, {"n": "stays"})
    await asyncio.sleep(0.4)  # time passing is the thing under test
    inbox = Inbox()

    async def handler(delivery: Delivery) -> None:
        inbox.add(delivery.body)

    await bus.subscribe(queue, handler)
    # FIFO: had the expired message been delivered, it would have come first
    assert (await inbox.wait_for(1))[0] == {"n": "stays"}
    await bus.publish(queue, {"n": "after"})
    assert await inbox.wait_for(2) == [{"n": "stays"}, {"n": "after"}]


async def test_namespaces_are_isolated_by_address(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    other_namespace = namespace + "-b"
    inbox = Inbox()

    async def handler(delivery: Delivery) -> None:
        inbox.add(delivery.body)

    for kind in ("queue", "topic"):
        await bus.subscribe(destination(namespace, kind, "epictopic"), handler)
    for kind in ("queue", "topic"):
        await bus.publish(destination(other_namespace, kind, "epictopic"), {"from": "b"})
    await bus.publish(destination(namespace, "queue", "epictopic"), {"from": "a"})
    await bus.publish(destination(namespace, "topic", "epictopic"), {"from": "a"})
    await inbox.wait_for(2)
    await asyncio.sleep(0.1)
    assert inbox.bodies == [{"from": "a"}, {"from": "a"}]


async def test_one_subscription_sees_its_messages_in_order_one_at_a_time(
    make_bus: BusFactory, namespace: str
) -> None:
    bus = await make_bus()
    queue = destination(namespace, "queue", "ordered")
    inbox = Inbox()
    running = 0
    overlap = False

    async def handler(delivery: Delivery) -> None:
        nonlocal running, overlap
        running += 1
        overlap = overlap or running > 1
        await asyncio.sleep(0)
        inbox.add(delivery.body)
        running -= 1
        await delivery.ack()

    await bus.subscribe(queue, handler, ack="client", prefetch=10)
    for n in range(50):
        await bus.publish(queue, {"n": n})
    assert [b["n"] for b in await inbox.wait_for(50)] == list(range(50))
    assert not overlap


async def test_handlers_run_on_the_loop_thread(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    loop_thread = threading.get_ident()
    threads: list[int] = []
    inbox = Inbox()

    async def handler(delivery: Delivery) -> None:
        threads.append(threading.get_ident())
        inbox.add(delivery.body)
        await delivery.ack()

    await bus.subscribe(destination(namespace, "queue", "q"), handler, ack="client")
    await bus.subscribe(destination(namespace, "topic", "t"), handler)
    for n in range(10):
        await bus.publish(destination(namespace, "queue", "q"), {"n": n})
        await bus.publish(destination(namespace, "topic", "t"), {"n": n})
    await inbox.wait_for(20)
    assert set(threads) == {loop_thread}


async def test_subscriber_never_sees_a_later_change_by_the_publisher(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    queue = destination(namespace, "queue", "copies")
    inbox = Inbox()

    async def handler(delivery: Delivery) -> None:
        inbox.add(delivery.body)

    await bus.subscribe(queue, handler)
    body = {"files": ["a.stf"], "state": "queued"}
    await bus.publish(queue, body)
    body["files"].append("b.stf")
    body["state"] = "changed"
    assert await inbox.wait_for(1) == [{"files": ["a.stf"], "state": "queued"}]


async def test_bad_input_is_refused_with_a_clear_error(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    with pytest.raises(BusError, match="must start with /queue/ or /topic/"):
        await bus.publish("slices", {"n": 1})
    with pytest.raises(BusError, match="not JSON-serialisable"):
        await bus.publish(destination(namespace, "queue", "q"), {"when": object()})
    with pytest.raises(ValueError, match="prefetch must be >= 1"):
        async def handler(delivery: Delivery) -> None: ...
        await bus.subscribe(destination(namespace, "queue", "q"), handler, prefetch=0)
    with pytest.raises(ValueError, match="ttl_s must be > 0"):
        await bus.publish(destination(namespace, "queue", "q"), {"n": 1}, ttl_s=0)


async def test_a_closed_bus_refuses_work(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    await bus.close()
    with pytest.raises(BusClosedError):
        await bus.publish(destination(namespace, "queue", "q"), {"n": 1})


async def test_client_ack_honours_prefetch(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    queue = destination(namespace, "queue", "prefetch")
    held: list[Delivery] = []
    inbox = Inbox()

    async def holds(delivery: Delivery) -> None:
        held.append(delivery)
        inbox.add(delivery.body)

    await bus.subscribe(queue, holds, ack="client", prefetch=2)
    for n in range(5):
        await bus.publish(queue, {"n": n})
    await inbox.wait_for(2)
    await asyncio.sleep(0.3)  # a third delivery would break the prefetch limit
    assert [d.body["n"] for d in held] == [0, 1]
    await held[0].ack()
    await inbox.wait_for(3)
    assert inbox.bodies[2] == {"n": 2}


async def test_a_handler_may_cancel_its_own_subscription(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    queue = destination(namespace, "queue", "selfcancel")
    inbox = Inbox()
    subscription = None

    async def once(delivery: Delivery) -> None:
        inbox.add(delivery.body)
        await delivery.ack()
        assert subscription is not None
        await subscription.cancel()

    subscription = await bus.subscribe(queue, once, ack="client")
    await bus.publish(queue, {"n": 0})
    await bus.publish(queue, {"n": 1})
    await inbox.wait_for(1)

    rest = Inbox()

    async def takes(delivery: Delivery) -> None:
        rest.add(delivery.body)
        await delivery.ack()

    await (await make_bus()).subscribe(queue, takes, ack="client")
    assert await rest.wait_for(1) == [{"n": 1}]
    assert inbox.bodies == [{"n": 0}]


async def test_a_topic_subscriber_gets_only_the_message_types_it_asked_for(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()
    topic = destination(namespace, "topic", "data")
    only, every = Inbox(), Inbox()

    async def keep_only(delivery: Delivery) -> None:
        only.add(delivery.body)

    async def keep_every(delivery: Delivery) -> None:
        every.add(delivery.body)

    await bus.subscribe(topic, keep_only, msg_types=("stf_ready",))
    await bus.subscribe(topic, keep_every)
    for n, kind in enumerate(["stf_ready", "processing_complete", "stf_ready", "tf_file_registered"]):
        await bus.publish(topic, {"n": n, "msg_type": kind}, headers={"msg_type": kind})
    await bus.publish(topic, {"n": 4})  # no msg_type header: not one of the types asked for
    assert [b["n"] for b in await every.wait_for(5)] == [0, 1, 2, 3, 4]
    assert [b["n"] for b in await only.wait_for(2)] == [0, 2]
    await asyncio.sleep(0.2)  # nothing else arrives
    assert len(only.bodies) == 2


async def test_a_message_type_filter_is_refused_on_a_queue(make_bus: BusFactory, namespace: str) -> None:
    bus = await make_bus()

    async def handler(delivery: Delivery) -> None:
        pass

    with pytest.raises(ValueError, match="not a topic"):
        await bus.subscribe(destination(namespace, "queue", "slices"), handler, msg_types=("slice",))
    with pytest.raises(ValueError, match="string"):
        await bus.subscribe(destination(namespace, "topic", "data"), handler, msg_types="stf_ready")
