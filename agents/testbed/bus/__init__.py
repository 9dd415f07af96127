"""The message bus port and its adapters.

`Bus` is the port; `EmbeddedBus` (in-process, `agents.testbed.bus.embedded`) and `StompBus`
(ActiveMQ over STOMP, `agents.testbed.bus.stomp`) are the adapters. Which adapter a process uses
is chosen in one place, :func:`bus_from_url` (``"embedded"`` or ``"stomp://HOST:PORT"``,
`agents.testbed.bus.url`); only the port types and that choice are exported here.
"""

from agents.testbed.bus.base import AckMode, Bus, BusError, Delivery, MessageHandler, Subscription, destination
from agents.testbed.bus.url import EMBEDDED, InvalidBusUrl, bus_from_url, bus_url, stomp_address

__all__ = [
    "EMBEDDED",
    "AckMode",
    "Bus",
    "BusError",
    "Delivery",
    "InvalidBusUrl",
    "MessageHandler",
    "Subscription",
    "bus_from_url",
    "bus_url",
    "destination",
    "stomp_address",
]
