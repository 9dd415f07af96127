"""The message bus port and its adapters.

`Bus` is the port; `EmbeddedBus` (in-process, `agents.testbed.bus.embedded`) and `StompBus`
(ActiveMQ over STOMP, `agents.testbed.bus.stomp`) are the adapters. Import an adapter from its
module; only the port types are exported here.
"""

from agents.testbed.bus.base import AckMode, Bus, BusError, Delivery, MessageHandler, Subscription, destination

__all__ = ["AckMode", "Bus", "BusError", "Delivery", "MessageHandler", "Subscription", "destination"]
