"""The bus port: publish, subscribe, acknowledge.

Destinations use STOMP's form: ``/topic/NAME`` delivers every message to every subscriber,
``/queue/NAME`` delivers each message to exactly one of its competing consumers. The namespace
is part of every destination name (``destination()`` builds them), so agents of one namespace
never receive another namespace's messages: isolation is a property of the address, not a
filter a client may forget.

Acknowledgement:

* ``ack="auto"``: the message counts as consumed once it is handed to the handler.
* ``ack="client"``: the handler calls ``await delivery.ack()`` when the work is done. A message
  that is not acked when its consumer goes away (subscription cancelled, bus closed, process
  killed) or whose handler raises is delivered again to a consumer of the queue, with
  ``redelivered=True``. ``await delivery.nack()`` gives a message back at once.

Handlers are coroutines run on the subscriber's event loop, one delivery at a time per
subscription, in arrival order; they never run on a transport's receiving thread.

Example::

    async with EmbeddedBus() as bus:
        async def on_slice(delivery: Delivery) -> None:
            await process(delivery.body)
            await delivery.ack()

        await bus.subscribe(destination("ns1", "queue", "slices"), on_slice, ack="client")
        await bus.publish(destination("ns1", "queue", "slices"), {"slice_id": 1})
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from agents.testbed.bus.errors import BusError

AckMode = Literal["auto", "client"]
DestinationKind = Literal["topic", "queue"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_PREFIX = "controlroom"


def destination(namespace: str, kind: DestinationKind, name: str) -> str:
    """Build a namespaced destination, e.g. ``/topic/controlroom.ns1.epictopic``.

    ``namespace`` and ``name`` are lowercase letters, digits, ``_``, ``-`` (``name`` may also
    hold ``.``); anything else raises ``ValueError`` naming the field.
    """
    if not _NAME.match(namespace) or "." in namespace:
        raise ValueError(
            f"namespace {namespace!r} is not valid: use 1-63 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    if not _NAME.match(name):
        raise ValueError(f"destination name {name!r} is not valid: use lowercase letters, digits, '_', '-', '.'")
    if kind not in ("topic", "queue"):
        raise ValueError(f"destination kind {kind!r} is not valid: use 'topic' or 'queue'")
    return f"/{kind}/{_PREFIX}.{namespace}.{name}"


def namespace_of(dest: str) -> str:
    """The namespace part of a destination built by ``destination()``."""
    parts = dest.split("/", 2)[-1].split(".", 2)
    if len(parts) < 3 or parts[0] != _PREFIX:
        raise ValueError(f"destination {dest!r} was not built by destination()")
    return parts[1]


def check_msg_types(dest: str, msg_types: Collection[str] | None) -> frozenset[str] | None:
    """A subscription's ``msg_types`` filter as a set; ``ValueError`` on a queue or an empty or
    textual filter (see :meth:`Bus.subscribe`)."""
    if msg_types is None:
        return None
    if isinstance(msg_types, str):
        raise ValueError(f"msg_types must be a collection of message types, not the string {msg_types!r}")
    if not dest.startswith("/topic/"):
        raise ValueError(f"msg_types filters a topic's messages; {dest} is not a topic (competing consumers "
                         "of a queue share its messages: a filter there would take them from the others)")
    if not msg_types:
        raise ValueError("msg_types is empty: nothing would be delivered; leave it None for every message")
    return frozenset(msg_types)


@dataclass
class Delivery:
    """One message handed to a handler."""

    destination: str
    body: dict[str, Any]
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)
    redelivered: bool = False
    redeliveries: int = 0
    """How many times the message was given back before (0 on first delivery; at least 1 when
    ``redelivered`` is true, a broker that only says "redelivered" counts as 1)."""
    _ack: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)
    _nack: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    async def ack(self) -> None:
        """Mark the message consumed (client-ack subscriptions; a no-op under auto-ack)."""
        if self._ack is not None:
            await self._ack()

    async def nack(self) -> None:
        """Give the message back for redelivery (client-ack subscriptions)."""
        if self._nack is not None:
            await self._nack()


MessageHandler = Callable[[Delivery], Awaitable[None]]


class Subscription(Protocol):
    """A live subscription; cancelling it gives back its unacknowledged messages."""

    async def cancel(self) -> None: ...


class Bus(ABC):
    """The bus port. Adapters implement the four verbs; the context manager connects and closes."""

    @abstractmethod
    async def connect(self) -> None:
        """Open the connection (a no-op for in-process adapters)."""

    @abstractmethod
    async def publish(
        self,
        destination: str,
        body: Mapping[str, Any],
        *,
        persistent: bool = True,
        ttl_s: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a JSON-serialisable body to a destination."""

    @abstractmethod
    async def subscribe(
        self,
        destination: str,
        handler: MessageHandler,
        *,
        ack: AckMode = "auto",
        prefetch: int = 1,
        msg_types: Collection[str] | None = None,
    ) -> Subscription:
        """Deliver messages of a destination to ``handler`` until the subscription is cancelled.

        ``msg_types`` (topics only): deliver only the messages whose ``msg_type`` header is one of
        these; the others never reach the handler (a subscriber that wants one message type of a
        busy topic does not parse the rest). A queue refuses it (``ValueError``): its messages
        are shared by competing consumers, so skipping one there would take it from the others."""

    @abstractmethod
    async def close(self) -> None:
        """Cancel every subscription (unacked messages go back) and close the connection."""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
