"""The in-process bus: topics, queues, client acks and redelivery inside one asyncio loop.

A queue keeps its messages until a consumer takes them and dispatches each to exactly one of its
competing consumers, round-robin among those with free prefetch credit. A topic gives every
subscriber its own private queue, so fan-out, acks and redelivery work the same way for both.

Bodies are serialised to JSON text once at ``publish`` and parsed for each delivery: a subscriber
never sees a later change the publisher makes to its dict, a body that could not cross a real
broker fails here too, and (measured) ``json.loads(json.dumps(b))`` is no slower than
``copy.deepcopy(b)`` for slice-sized bodies.

Each subscription runs one task that hands its messages to the handler one at a time, in order.

Example::

    async with EmbeddedBus() as bus:
        got: list[int] = []

        async def on_slice(delivery: Delivery) -> None:
            got.append(delivery.body["slice_id"])
            await delivery.ack()

        await bus.subscribe("/queue/controlroom.ns1.slices", on_slice, ack="client", prefetch=4)
        await bus.publish("/queue/controlroom.ns1.slices", {"slice_id": 1})
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import json.encoder
import json.scanner
import logging
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from agents.testbed.bus.base import AckMode, Bus, Delivery, MessageHandler, check_msg_types
from agents.testbed.bus.errors import BusClosedError, BusError

__all__ = ["EmbeddedBus"]

log = logging.getLogger(__name__)

# json.dumps(body, separators=(",", ":")) builds a new encoder on every call and json.loads checks
# its argument twice before scanning; the bus encodes and decodes every message, so it holds one
# C encoder and one C scanner (the same output, the same errors for what JSON cannot carry). The
# encoder keeps no circular-reference markers (a dict shared between calls would keep an entry
# after a failed call): a body that contains itself fails with RecursionError, also a BusError.
_encoder = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True,
) if json.encoder.c_make_encoder is not None else None  # type: ignore[attr-defined]
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]


def _dumps(body: Mapping[str, Any]) -> str:
    if _encoder is None:
        return json.dumps(body, separators=(",", ":"))
    return "".join(_encoder(body, 0))


def _loads(payload: str) -> Any:
    return _scan(payload, 0)[0]


@dataclass
class _Message:
    message_id: str
    destination: str
    payload: str
    headers: dict[str, str]
    expires_at: float | None
    redeliveries: int = 0
    handed: bool = False

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass
class _Source:
    """Messages waiting for one of the consumers that compete for them.

    ``ready`` holds the consumers with free prefetch credit, each at most once, in turn order:
    a dispatch takes the first, hands it a message and puts it at the back if it still has
    credit (round-robin among those with credit). A consumer joins again when it gets credit
    back (an ack, a nack, an auto-ack handler returning). Dispatching therefore never scans
    consumers that have no credit: 30 busy workers used to be looked at on every publish.
    """

    pending: deque[_Message] = field(default_factory=deque)
    consumers: list[_Consumer] = field(default_factory=list)
    ready: deque[_Consumer] = field(default_factory=deque)

    def offer(self, consumer: _Consumer) -> None:
        """``consumer`` may have credit again: put it in the turn order (once) and dispatch."""
        if not consumer.in_turn and not consumer.closed and consumer.credit() > 0:
            consumer.in_turn = True
            self.ready.append(consumer)
        if self.pending:
            self.dispatch()

    def dispatch(self) -> None:
        pending = self.pending
        ready = self.ready
        if not pending or not ready:
            return
        now = time.monotonic()
        while pending and ready:
            consumer = ready[0]
            if consumer.closed or consumer.credit() <= 0:
                ready.popleft()
                consumer.in_turn = False
                continue
            message = pending.popleft()
            if message.expired(now):
                continue
            ready.popleft()
            consumer.push(message)
            if consumer.credit() > 0:
                ready.append(consumer)
            else:
                consumer.in_turn = False


class _Consumer:
    """One subscription: an inbox, the messages its handler holds, and the task that feeds it."""

    def __init__(
        self,
        bus: EmbeddedBus,
        source: _Source,
        destination: str,
        handler: MessageHandler,
        ack: AckMode,
        prefetch: int,
        keeps_source: bool,
        msg_types: frozenset[str] | None = None,
    ) -> None:
        self._bus = bus
        self.msg_types = msg_types
        """Only messages with one of these ``msg_type`` headers are copied to it (topics)."""
        self._source = source
        self._destination = destination
        self._handler = handler
        self._client_ack = ack == "client"
        self._prefetch = prefetch
        self._keeps_source = keeps_source
        self._inbox: deque[_Message] = deque()
        self._held: dict[str, _Message] = {}
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.in_turn = False
        """In its source's ``ready`` turn order (see :class:`_Source`)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"bus:{destination}")

    def credit(self) -> int:
        return self._prefetch - len(self._inbox) - len(self._held)

    def push(self, message: _Message) -> None:
        self._inbox.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _run(self) -> None:
        inbox = self._inbox
        held = self._held
        loop = asyncio.get_running_loop()
        while not self.closed:
            if not inbox:
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
                continue
            message = inbox.popleft()
            if message.expired(time.monotonic()):
                self._source.offer(self)
                continue
            held[message.message_id] = message
            message.handed = True
            delivery = Delivery(
                destination=message.destination,
                body=_loads(message.payload),
                message_id=message.message_id,
                headers=dict(message.headers),
                redelivered=message.redeliveries > 0,
                redeliveries=message.redeliveries,
                _ack=partial(self._ack, message) if self._client_ack else None,
                _nack=partial(self._nack, message) if self._client_ack else None,
            )
            try:
                await self._handler(delivery)
            except Exception:
                log.exception("handler for %s failed on message %s", message.destination, message.message_id)
                if self._client_ack and held.pop(message.message_id, None) is not None:
                    self._give_back(message)
            if not self._client_ack:
                held.pop(message.message_id, None)
                self._source.offer(self)

    async def _ack(self, message: _Message) -> None:
        if self._held.pop(message.message_id, None) is not None:
            self._source.offer(self)

    async def _nack(self, message: _Message) -> None:
        if self._held.pop(message.message_id, None) is not None:
            self._give_back(message)

    def _give_back(self, message: _Message) -> None:
        message.redeliveries += 1
        if message.redeliveries > self._bus.max_redeliveries:
            log.warning("message %s on %s dead-lettered after %d redeliveries",
                        message.message_id, message.destination, message.redeliveries - 1)
            self._bus.dead_letters.append((message.destination, _loads(message.payload)))
        else:
            self._source.pending.appendleft(message)
        self._source.offer(self)

    async def cancel(self) -> None:
        """Stop delivering; unacknowledged and undelivered messages go back to the queue."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(ValueError):
            self._source.consumers.remove(self)
        self._bus._forget(self)
        task = self._task
        if task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        returned = (list(self._held.values()) if self._client_ack else []) + list(self._inbox)
        self._held.clear()
        self._inbox.clear()
        if not self._keeps_source:
            for message in returned:
                if message.handed:
                    message.redeliveries += 1
            self._source.pending.extendleft(reversed(returned))
            self._source.dispatch()


class EmbeddedBus(Bus):
    """The bus inside one asyncio loop, with the semantics of the STOMP adapter.

    ``max_redeliveries`` bounds how often a message that keeps failing is given back; after that
    it is dead-lettered: kept in ``dead_letters`` as ``(destination, body)`` and logged, never
    silently dropped (the STOMP adapter hands it to the broker's dead-letter queue).
    """

    def __init__(self, *, max_redeliveries: int = 10) -> None:
        if max_redeliveries < 0:
            raise ValueError("max_redeliveries must be >= 0")
        self.max_redeliveries = max_redeliveries
        self.dead_letters: list[tuple[str, dict[str, Any]]] = []
        self._queues: dict[str, _Source] = {}
        self._topics: dict[str, list[_Consumer]] = {}
        self._consumers: set[_Consumer] = set()
        self._ids = itertools.count(1)
        self._kinds: dict[str, str] = {}
        self._open = False

    async def connect(self) -> None:
        """Open the bus (nothing to reach; it lives in this loop)."""
        self._open = True

    async def publish(
        self,
        destination: str,
        body: Mapping[str, Any],
        *,
        persistent: bool = True,
        ttl_s: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue ``body`` on a queue, or copy it to every current subscriber of a topic."""
        if not self._open:
            raise BusClosedError("the embedded bus is not open: use 'async with EmbeddedBus()' or await connect()")
        kind = self._kinds.get(destination) or self._kinds.setdefault(destination, _kind_of(destination))
        try:
            payload = _dumps(body)
        except (TypeError, ValueError, RecursionError) as exc:
            raise BusError(f"body for {destination} is not JSON-serialisable: {exc}; send plain dicts, "
                           "lists, strings, numbers, booleans and None") from exc
        message_headers = dict(headers) if headers else {}
        expires_at = None
        if ttl_s is not None:
            if ttl_s <= 0:
                raise ValueError(f"ttl_s must be > 0 seconds (got {ttl_s}); leave it None for no expiry")
            expires_at = time.monotonic() + ttl_s
            message_headers["expires"] = str(int((time.time() + ttl_s) * 1000))
        message_headers["persistent"] = "true" if persistent else "false"
        if kind == "queue":
            source = self._queues.get(destination)
            if source is None:
                source = self._queues[destination] = _Source()
            source.pending.append(
                _Message(f"emb-{next(self._ids)}", destination, payload, message_headers, expires_at)
            )
            source.dispatch()
            return
        msg_type = message_headers.get("msg_type")
        for consumer in self._topics.get(destination, ()):
            if consumer.msg_types is not None and msg_type not in consumer.msg_types:
                continue
            source = consumer._source
            source.pending.append(
                _Message(f"emb-{next(self._ids)}", destination, payload, message_headers, expires_at)
            )
            source.dispatch()

    async def subscribe(
        self,
        destination: str,
        handler: MessageHandler,
        *,
        ack: AckMode = "auto",
        prefetch: int = 1,
        msg_types: Collection[str] | None = None,
    ) -> _Consumer:
        """Start delivering a destination's messages to ``handler``; cancel the result to stop."""
        if not self._open:
            raise BusClosedError("the embedded bus is not open: use 'async with EmbeddedBus()' or await connect()")
        kind = _kind_of(destination)
        types = check_msg_types(destination, msg_types)
        if ack not in ("auto", "client"):
            raise ValueError(f"ack {ack!r} is not valid: use 'auto' or 'client'")
        if prefetch < 1:
            raise ValueError(f"prefetch must be >= 1 (got {prefetch})")
        if kind == "queue":
            source = self._queues.get(destination)
            if source is None:
                source = self._queues[destination] = _Source()
            consumer = _Consumer(self, source, destination, handler, ack, prefetch, keeps_source=False)
        else:
            source = _Source()
            consumer = _Consumer(self, source, destination, handler, ack, prefetch, keeps_source=True, msg_types=types)
            self._topics.setdefault(destination, []).append(consumer)
        source.consumers.append(consumer)
        self._consumers.add(consumer)
        source.offer(consumer)
        return consumer

    def pending(self, destination: str) -> int:
        """How many messages wait on a queue for a consumer (0 for topics and unknown queues)."""
        source = self._queues.get(destination)
        return len(source.pending) if source is not None else 0

    async def close(self) -> None:
        """Cancel every subscription; queued messages stay until the bus object is dropped."""
        self._open = False
        for consumer in list(self._consumers):
            await consumer.cancel()

    def _forget(self, consumer: _Consumer) -> None:
        self._consumers.discard(consumer)
        subscribers = self._topics.get(consumer._destination)
        if subscribers is not None and consumer in subscribers:
            subscribers.remove(consumer)


def _kind_of(destination: str) -> str:
    if destination.startswith("/queue/") and len(destination) > 7:
        return "queue"
    if destination.startswith("/topic/") and len(destination) > 7:
        return "topic"
    raise BusError(f"destination {destination!r} is not valid: it must start with /queue/ or /topic/ "
                   "(build it with agents.testbed.bus.destination())")
