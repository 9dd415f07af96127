"""The STOMP adapter: ActiveMQ (or any STOMP 1.2 broker) through stomp.py.

stomp.py reads frames on its own receiver thread. This adapter never runs a handler there: the
listener only appends each frame to a queue and wakes the asyncio loop with
``call_soon_threadsafe`` (once per batch); the loop sorts the frames into the subscriptions'
inboxes, and one task per subscription hands them to its handler in order. Publishing, acks and
nacks are written from the loop thread, coalesced into one socket write per loop turn.

What the broker sees:

* ``SEND`` with ``persistent:true``, ``content-type:application/json`` and, for a TTL, ``expires``
  (milliseconds since the epoch; ActiveMQ drops the message once it has expired).
* ``SUBSCRIBE`` with ``ack:client-individual`` (or ``auto``) and ``activemq.prefetchSize``.
* Giving a queue message back (``nack()`` or a handler that raised) re-sends a copy with
  ``controlroom-redeliveries`` counted up and acks the original, in one STOMP transaction: on
  ActiveMQ 5 a STOMP ``NACK`` sends the message straight to the dead-letter queue, which is what
  happens here only once ``max_redeliveries`` is exceeded. A topic message is given back to the
  same subscriber (a topic has no other consumer to take it).
* A consumer that goes away without acking (unsubscribe, disconnect, killed process) leaves its
  messages to the broker, which redelivers them with ``redelivered:true``.

The connection heart-beats (10 s both ways by default). When it drops, the adapter reconnects
with exponential backoff and re-subscribes every live subscription; frames received on the old
connection are dropped (the broker redelivers them) and publishing waits for the new connection.
Every publish is kept until the broker confirms it and is sent again after a reconnect.

The modules: this one is the adapter (connection and reconnect, the verbs, acks);
``stomp_threads`` bridges stomp.py's receiver thread and the loop (and coalesces writes);
``stomp_subscription`` feeds one handler and gives messages back; ``stomp_frames`` encodes the
frames written by hand.

Example::

    async with StompBus("127.0.0.1", 61613) as bus:
        async def on_slice(delivery: Delivery) -> None:
            await bus.publish(destination("ns1", "queue", "results"), {"slice_id": delivery.body["slice_id"]})
            await delivery.ack()

        await bus.subscribe(destination("ns1", "queue", "slices"), on_slice, ack="client", prefetch=4)
"""

from __future__ import annotations

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Collection, Mapping
from typing import Any

import stomp
import stomp.exception

from agents.testbed.bus.base import AckMode, Bus, MessageHandler, check_msg_types
from agents.testbed.bus.errors import BrokerError, BrokerUnavailableError, BusClosedError, BusError
from agents.testbed.bus.stomp_frames import (
    BROKER_HEADERS,
    JSON,
    REDELIVERIES,
    check_destination,
    encode_ack,
    encode_confirm,
    encode_send,
)
from agents.testbed.bus.stomp_subscription import StompSubscription
from agents.testbed.bus.stomp_threads import LoopWriteBuffer, ReceiverListener

__all__ = ["StompBus"]

log = logging.getLogger(__name__)

CONFIRM_AFTER_S = 0.25


class StompBus(Bus):
    """The bus over a STOMP 1.2 broker (ActiveMQ 5.17 here; Artemis and RabbitMQ speak STOMP too).

    ``connect_timeout_s`` bounds the first connection and how long ``publish`` waits for a lost
    connection to come back; the reconnect delay starts at ``reconnect_initial_s`` and doubles up
    to ``reconnect_max_s``. ``max_redeliveries`` bounds how often a failing message is given back
    before it goes to the broker's dead-letter queue (``ActiveMQ.DLQ``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 61613,
        *,
        username: str | None = None,
        passcode: str | None = None,
        heartbeats_ms: tuple[int, int] = (10_000, 10_000),
        connect_timeout_s: float = 10.0,
        reconnect_initial_s: float = 0.1,
        reconnect_max_s: float = 5.0,
        max_redeliveries: int = 10,
    ) -> None:
        if max_redeliveries < 0:
            raise ValueError("max_redeliveries must be >= 0")
        self.host = host
        self.port = port
        self.max_redeliveries = max_redeliveries
        self._username = username
        self._passcode = passcode
        self._heartbeats = heartbeats_ms
        self._connect_timeout_s = connect_timeout_s
        self._reconnect_initial_s = reconnect_initial_s
        self._reconnect_max_s = reconnect_max_s
        self._conn: stomp.Connection12 | None = None
        self._writer: LoopWriteBuffer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        self._connected = asyncio.Event()
        self._subs: dict[str, StompSubscription] = {}
        self._receipts: dict[str, asyncio.Future[None]] = {}
        self._errors: deque[BrokerError] = deque(maxlen=32)
        self._incoming: deque[tuple[int, stomp.utils.Frame]] = deque()  # filled by receiver threads
        self._drain_scheduled = False
        # every SEND the broker has not confirmed, oldest first: sent again after a reconnect, so a
        # publish that returned is never lost (it may arrive twice). Confirmation is a receipt on
        # an empty transaction written after the SENDs (the broker handles a connection's frames in
        # order), asked CONFIRM_AFTER_S after a publish, one outstanding at a time. Any receipt
        # makes ActiveMQ answer only once its store has caught up (~10 ms here), holding up that
        # connection: a receipt per SEND cut the slice pattern's rate by 2-3x and one per loop turn
        # made a prefetch-1 worker 8x slower than without.
        self._unconfirmed: deque[tuple[int, str, str, dict[str, str]]] = deque()
        self._confirms: dict[str, int] = {}  # outstanding receipt id -> newest seq it confirms
        self._confirm_scheduled = False
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._tag = uuid.uuid4().hex[:8]
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnects = 0

    # -- connection ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (retrying with backoff for up to ``connect_timeout_s``); raise if the broker stays away."""
        self._loop = asyncio.get_running_loop()
        self._closing = False
        await self._establish(deadline=time.monotonic() + self._connect_timeout_s)

    async def _establish(self, deadline: float) -> None:
        delay = self._reconnect_initial_s
        while True:
            self._generation += 1
            generation = self._generation
            conn = stomp.Connection12(
                [(self.host, self.port)],
                heartbeats=self._heartbeats,
                reconnect_attempts_max=1,
                timeout=max(0.5, min(5.0, deadline - time.monotonic())),
            )
            assert self._loop is not None
            conn.set_listener("controlroom", ReceiverListener(self, self._loop, generation))
            try:
                await asyncio.to_thread(
                    conn.connect, self._username, self._passcode, wait=True
                )
            except (stomp.exception.StompException, OSError) as exc:
                with contextlib.suppress(Exception):
                    conn.disconnect()
                if self._closing:
                    raise BusClosedError("the STOMP bus was closed while connecting") from exc
                if time.monotonic() + delay > deadline:
                    raise BrokerUnavailableError(
                        f"the STOMP broker at {self.host}:{self.port} did not accept a connection within "
                        f"{self._connect_timeout_s:g} s ({type(exc).__name__}); start it (e.g. .ci/activemq.sh start) "
                        "or fix host/port"
                    ) from exc
                await asyncio.sleep(delay * (1 + random.random() * 0.1))
                delay = min(delay * 2, self._reconnect_max_s)
                continue
            if self._closing:
                with contextlib.suppress(Exception):
                    conn.disconnect()
                raise BusClosedError("the STOMP bus was closed while connecting")
            sock = conn.transport.socket
            if sock is not None:  # stomp.py leaves Nagle on: small ACK/SEND frames would wait ~40 ms
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._writer = LoopWriteBuffer(conn.transport, self._loop)
            self._conn = conn
            for sub in self._subs.values():
                sub.inbox.clear()
                conn.subscribe(sub.destination, sub.sub_id, ack=sub.ack_header, headers=sub.subscribe_headers())
            self._confirms.clear()
            for _, destination, payload, headers in self._unconfirmed:
                conn.send(destination, payload, content_type=JSON, headers=headers)
            self._connected.set()
            if self._unconfirmed:
                self._ask_for_confirmation(conn)
            return

    def _on_disconnected(self, generation: int) -> None:
        if generation != self._generation or self._closing:
            return
        log.warning("lost the STOMP connection to %s:%s; reconnecting", self.host, self.port)
        self._connected.clear()
        self._generation += 1  # frames of the old connection are now stale
        for future in self._receipts.values():
            if not future.done():
                future.set_exception(BrokerUnavailableError("the connection dropped before the broker answered"))
        self._receipts.clear()
        self._confirms.clear()
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while not self._closing:
            try:
                await self._establish(deadline=time.monotonic() + 3600.0)
                self.reconnects += 1
                log.info("reconnected to %s:%s; %d subscriptions resumed", self.host, self.port, len(self._subs))
                return
            except BusClosedError:
                return
            except BusError:
                log.exception("reconnecting to %s:%s failed; trying again", self.host, self.port)

    async def _ready(self) -> stomp.Connection12:
        if self._closing or self._loop is None:
            raise BusClosedError("the STOMP bus is not connected: use 'async with StompBus(...)' or await connect()")
        if self._errors:
            raise self._errors.popleft()
        if not self._connected.is_set():
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    await self._connected.wait()
            except TimeoutError:
                raise BrokerUnavailableError(
                    f"the STOMP broker at {self.host}:{self.port} has been away for more than "
                    f"{self._connect_timeout_s:g} s; the bus keeps reconnecting"
                ) from None
        assert self._conn is not None
        return self._conn

    # -- frames from the receiver thread (run on the loop) -----------------------------------

    def _drain(self) -> None:
        self._drain_scheduled = False
        incoming = self._incoming
        subs = self._subs
        while incoming:
            generation, frame = incoming.popleft()
            if generation != self._generation:
                continue
            if frame.cmd == "RECEIPT":
                receipt = frame.headers.get("receipt-id", "")
                seq = self._confirms.pop(receipt, None)
                if seq is None:
                    self._on_receipt(generation, receipt)
                else:
                    self._confirmed(seq)
                continue
            sub = subs.get(frame.headers.get("subscription", ""))
            if sub is not None:
                sub.push(generation, frame)

    def _on_receipt(self, generation: int, receipt_id: str) -> None:
        future = self._receipts.pop(receipt_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_error(self, generation: int, headers: dict[str, str], body: str) -> None:
        error = BrokerError(headers.get("message", "unknown error"), body)
        log.error("%s", error)
        future = self._receipts.pop(headers.get("receipt-id", ""), None)
        if future is not None and not future.done():
            future.set_exception(error)
        else:
            self._errors.append(error)

    # -- the verbs ----------------------------------------------------------------------------

    async def publish(
        self,
        destination: str,
        body: Mapping[str, Any],
        *,
        persistent: bool = True,
        ttl_s: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a JSON body; waits (up to ``connect_timeout_s``) while the connection is being restored."""
        check_destination(destination)
        try:
            payload = json.dumps(body, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise BusError(f"body for {destination} is not JSON-serialisable: {exc}; send plain dicts, "
                           "lists, strings, numbers, booleans and None") from exc
        frame_headers = dict(headers) if headers else {}
        frame_headers["persistent"] = "true" if persistent else "false"
        if ttl_s is not None:
            if ttl_s <= 0:
                raise ValueError(f"ttl_s must be > 0 seconds (got {ttl_s}); leave it None for no expiry")
            frame_headers["expires"] = str(int((time.time() + ttl_s) * 1000))
        conn = await self._ready()
        seq = next(self._seq)
        self._unconfirmed.append((seq, destination, payload, frame_headers))
        assert self._writer is not None
        self._writer.send(encode_send(destination, payload, frame_headers))
        if not self._confirm_scheduled:
            self._confirm_scheduled = True
            assert self._loop is not None
            self._loop.call_later(CONFIRM_AFTER_S, self._confirm_soon)

    def _confirm_soon(self) -> None:
        self._confirm_scheduled = False
        unconfirmed = self._unconfirmed
        if not unconfirmed or self._conn is None or not self._connected.is_set():
            return
        if not self._confirms:
            self._ask_for_confirmation(self._conn)

    def _ask_confirm(self, seq: int) -> str:
        receipt = f"c-{self._tag}-{seq}"
        self._confirms[receipt] = seq
        return receipt

    def _confirmed(self, seq: int) -> None:
        """The broker has every SEND up to ``seq`` (receipts come back in the order frames went out)."""
        unconfirmed = self._unconfirmed
        while unconfirmed and unconfirmed[0][0] <= seq:
            unconfirmed.popleft()
        if unconfirmed and not self._confirms and not self._confirm_scheduled:
            self._confirm_scheduled = True
            assert self._loop is not None
            self._loop.call_later(CONFIRM_AFTER_S, self._confirm_soon)

    def _ask_for_confirmation(self, conn: stomp.Connection12) -> None:
        # a receipt on an empty transaction confirms the SENDs written before it
        receipt = self._ask_confirm(self._unconfirmed[-1][0])
        if self._writer is not None:
            self._writer.send(encode_confirm(receipt))

    async def subscribe(
        self,
        destination: str,
        handler: MessageHandler,
        *,
        ack: AckMode = "auto",
        prefetch: int = 1,
        msg_types: Collection[str] | None = None,
    ) -> StompSubscription:
        """Subscribe and wait for the broker's receipt (a refusal raises ``BrokerError``).
        ``msg_types`` is applied here, before a frame's body is parsed (no broker selector: not
        every STOMP broker has them)."""
        check_destination(destination)
        types = check_msg_types(destination, msg_types)
        if ack not in ("auto", "client"):
            raise ValueError(f"ack {ack!r} is not valid: use 'auto' or 'client'")
        if prefetch < 1:
            raise ValueError(f"prefetch must be >= 1 (got {prefetch})")
        conn = await self._ready()
        sub = StompSubscription(self, f"{self._tag}-{next(self._ids)}", destination, handler, ack, prefetch, types)
        self._subs[sub.sub_id] = sub
        try:
            await self._with_receipt(
                lambda receipt: conn.subscribe(
                    destination, sub.sub_id, ack=sub.ack_header, headers={**sub.subscribe_headers(), "receipt": receipt}
                )
            )
        except BaseException:
            await sub.cancel()
            raise
        return sub

    async def _with_receipt(self, send: Any) -> None:
        assert self._loop is not None
        receipt = f"r-{self._tag}-{next(self._ids)}"
        future: asyncio.Future[None] = self._loop.create_future()
        self._receipts[receipt] = future
        send(receipt)
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await future
        except TimeoutError:
            self._receipts.pop(receipt, None)
            raise BrokerUnavailableError(f"the broker did not confirm within {self._connect_timeout_s:g} s") from None

    async def close(self) -> None:
        """Unsubscribe everything (the broker redelivers what was not acked) and disconnect."""
        if self._closing:
            return
        self._closing = True
        for sub in list(self._subs.values()):
            await sub.cancel()
        if self._reconnecting is not None and not self._reconnecting.done():
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, BusError):
                await self._reconnecting
        conn, self._conn = self._conn, None
        self._connected.clear()
        if self._writer is not None:
            self._writer.flush()
        if conn is not None and conn.is_connected():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await asyncio.to_thread(conn.disconnect, receipt=uuid.uuid4().hex)

    # -- acks, from the loop thread -----------------------------------------------------------

    def _forget(self, sub: StompSubscription) -> None:
        if self._subs.pop(sub.sub_id, None) is None:
            return
        conn = self._conn
        if conn is not None and self._connected.is_set():
            with contextlib.suppress(stomp.exception.StompException, OSError):
                conn.unsubscribe(sub.sub_id)

    def _live(self, generation: int) -> stomp.Connection12 | None:
        if generation != self._generation or not self._connected.is_set():
            return None  # that connection is gone; the broker redelivers the message
        return self._conn

    def _send_ack(self, sub: StompSubscription, ack_id: str, generation: int) -> None:
        if not sub.client_ack:
            return
        if self._live(generation) is not None and self._writer is not None:
            self._writer.send(encode_ack(ack_id))

    def _send_nack(self, sub: StompSubscription, ack_id: str, generation: int) -> None:
        if not sub.client_ack:
            return
        conn = self._live(generation)
        if conn is not None:
            with contextlib.suppress(stomp.exception.StompException, OSError):
                conn.nack(ack_id)

    def _requeue(
        self, sub: StompSubscription, ack_id: str, generation: int, frame: stomp.utils.Frame, redeliveries: int
    ) -> None:
        conn = self._live(generation)
        if conn is None:
            return
        keep = {k: v for k, v in frame.headers.items() if k not in BROKER_HEADERS}
        keep[REDELIVERIES] = str(redeliveries)
        keep["persistent"] = frame.headers.get("persistent", "true")
        with contextlib.suppress(stomp.exception.StompException, OSError):
            transaction = conn.begin()
            conn.send(sub.destination, frame.body, content_type=JSON, headers={**keep, "transaction": transaction})
            conn.ack(ack_id, transaction=transaction)
            conn.commit(transaction)
