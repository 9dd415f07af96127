"""A live STOMP subscription: its inbox on the loop, the task that feeds its handler in order,
and what happens to a message the handler gives back (re-sent with a count, or dead-lettered).

``StompBus`` owns the connection; a subscription asks it to write ACK, NACK and requeue frames
(``_send_ack``, ``_send_nack``, ``_requeue``) and drops frames of a connection that is gone
(``_generation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

import stomp

from agents.testbed.bus.base import AckMode, Delivery, MessageHandler
from agents.testbed.bus.stomp_frames import REDELIVERIES

if TYPE_CHECKING:
    from agents.testbed.bus.stomp import StompBus

__all__ = ["StompSubscription"]

log = logging.getLogger(__name__)


class PendingAck:
    """A client-ack delivery not yet settled: the first ``ack()`` or ``nack()`` wins."""

    __slots__ = ("_sub", "_ack_id", "_generation", "_frame", "_redeliveries", "settled")

    def __init__(
        self, sub: StompSubscription, ack_id: str, generation: int, frame: stomp.utils.Frame, redeliveries: int
    ) -> None:
        self._sub = sub
        self._ack_id = ack_id
        self._generation = generation
        self._frame = frame
        self._redeliveries = redeliveries
        self.settled = False

    async def ack(self) -> None:
        if not self.settled:
            self.settled = True
            self._sub._bus._send_ack(self._sub, self._ack_id, self._generation)

    async def nack(self) -> None:
        if not self.settled:
            self.settled = True
            self._sub.give_back(self._ack_id, self._generation, self._frame, self._redeliveries)


class StompSubscription:
    """A live subscription: its inbox on the loop, the task feeding its handler, its SUBSCRIBE."""

    def __init__(
        self, bus: StompBus, sub_id: str, destination: str, handler: MessageHandler, ack: AckMode, prefetch: int,
        msg_types: frozenset[str] | None = None,
    ) -> None:
        self._bus = bus
        self.msg_types = msg_types
        self.sub_id = sub_id
        self.destination = destination
        self.is_queue = destination.startswith("/queue/")
        self._handler = handler
        self.client_ack = ack == "client"
        self.prefetch = prefetch
        # (generation, frame, local redeliveries) in arrival order
        self.inbox: deque[tuple[int, stomp.utils.Frame, int]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stomp:{destination}")

    def subscribe_headers(self) -> dict[str, str]:
        return {"activemq.prefetchSize": str(self.prefetch)}

    @property
    def ack_header(self) -> str:
        """SUBSCRIBE's ``ack``: each message acked on its own, or by the broker on delivery."""
        return "client-individual" if self.client_ack else "auto"

    def push(self, generation: int, frame: stomp.utils.Frame) -> None:
        self.inbox.append((generation, frame, 0))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _run(self) -> None:
        inbox = self.inbox
        bus = self._bus
        loop = asyncio.get_running_loop()
        while not self.closed:
            if not inbox:
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
                continue
            generation, frame, local_redeliveries = inbox.popleft()
            if generation != bus._generation:
                continue  # from a connection that is gone: the broker redelivers it
            headers = frame.headers
            ack_id = headers.get("ack", headers.get("message-id", ""))
            expires = headers.get("expires", "0")
            if expires not in ("", "0") and int(expires) <= time.time() * 1000:
                bus._send_ack(self, ack_id, generation)
                continue
            if self.msg_types is not None and headers.get("msg_type") not in self.msg_types:
                bus._send_ack(self, ack_id, generation)  # not for this subscriber (a topic's filter)
                continue
            try:
                body = json.loads(frame.body)
                if not isinstance(body, dict):
                    raise ValueError("the body is not a JSON object")
            except ValueError as exc:
                log.error("message %s on %s is not a JSON object (%s): dead-lettered",
                          headers.get("message-id"), self.destination, exc)
                bus._send_nack(self, ack_id, generation)
                continue
            redeliveries = int(headers.get(REDELIVERIES, "0")) + local_redeliveries
            if headers.get("redelivered") == "true":
                redeliveries = max(redeliveries, 1)
            delivery = Delivery(
                destination=self.destination,
                body=body,
                message_id=headers.get("message-id", ""),
                headers=dict(headers),
                redelivered=redeliveries > 0,
                redeliveries=redeliveries,
            )
            pending = PendingAck(self, ack_id, generation, frame, redeliveries) if self.client_ack else None
            if pending is not None:
                delivery._ack, delivery._nack = pending.ack, pending.nack
            try:
                await self._handler(delivery)
            except Exception:
                log.exception("handler for %s failed on message %s", self.destination, delivery.message_id)
                if pending is not None and not pending.settled:
                    pending.settled = True
                    self.give_back(ack_id, generation, frame, redeliveries)

    def give_back(self, ack_id: str, generation: int, frame: stomp.utils.Frame, redeliveries: int) -> None:
        if redeliveries + 1 > self._bus.max_redeliveries:
            log.warning("message %s on %s dead-lettered after %d redeliveries",
                        frame.headers.get("message-id"), self.destination, redeliveries)
            self._bus._send_nack(self, ack_id, generation)
        elif self.is_queue:
            self._bus._requeue(self, ack_id, generation, frame, redeliveries + 1)
        else:
            self.inbox.appendleft((generation, frame, redeliveries + 1 - int(frame.headers.get(REDELIVERIES, "0"))))

    async def cancel(self) -> None:
        """Unsubscribe; the broker redelivers whatever this subscription had not acked."""
        if self.closed:
            return
        self.closed = True
        self._bus._forget(self)
        task = self._task
        if task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.inbox.clear()
