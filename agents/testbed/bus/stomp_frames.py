"""STOMP 1.2 frames and headers the STOMP adapter writes by hand, and the names it gives headers.

The hot path (a SEND and an ACK per message, the publish confirmation) skips stomp.py's per-frame
listener fan-out and generic encoding; measured, that is a large share of the client's CPU per
slice (docs/bus.md). Everything else (CONNECT, SUBSCRIBE, NACK, the requeue transaction,
DISCONNECT) goes through stomp.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from agents.testbed.bus.errors import BusError

__all__ = ["BROKER_HEADERS", "JSON", "REDELIVERIES", "check_destination", "encode_ack", "encode_confirm", "encode_send", "escape"]

REDELIVERIES = "controlroom-redeliveries"
"""How often the adapter has given a queue message back (it re-sends a copy, see ``stomp.py``)."""

JSON = "application/json"

BROKER_HEADERS = frozenset(
    {"ack", "subscription", "message-id", "destination", "content-length", "content-type", "redelivered",
     "timestamp", "priority", "persistent", "transaction", "receipt"}
)
"""Headers the broker sets on a MESSAGE: not copied when a message is re-sent."""


def escape(value: str) -> str:
    """STOMP 1.2 header escaping."""
    if "\\" in value or "\n" in value or ":" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace(":", "\\c").replace("\r", "\\r")
    return value


def encode_send(destination: str, payload: str, headers: Mapping[str, str]) -> bytes:
    """A SEND frame with a JSON body."""
    body = payload.encode()
    lines = [f"SEND\ndestination:{escape(destination)}\ncontent-type:{JSON}\ncontent-length:{len(body)}"]
    for key, value in headers.items():
        lines.append(f"{escape(key)}:{escape(str(value))}")
    lines.append("\n")
    return "\n".join(lines).encode() + body + b"\x00"


def encode_ack(ack_id: str) -> bytes:
    """An ACK frame for one client-individual message."""
    return b"ACK\nid:" + escape(ack_id).encode() + b"\n\n\x00"


def encode_confirm(receipt: str) -> bytes:
    """An empty transaction with a receipt: its RECEIPT confirms every SEND written before it
    (the broker handles a connection's frames in order)."""
    return f"BEGIN\ntransaction:{receipt}\nreceipt:{receipt}\n\n\x00ABORT\ntransaction:{receipt}\n\n\x00".encode()


def check_destination(destination: str) -> None:
    """A destination must be ``/queue/NAME`` or ``/topic/NAME``."""
    if not (destination.startswith(("/queue/", "/topic/")) and len(destination) > 7):
        raise BusError(f"destination {destination!r} is not valid: it must start with /queue/ or /topic/ "
                       "(build it with agents.testbed.bus.destination())")
