"""The bus's exceptions, all rooted at ``BusError``.

::

    BusError                    the bus could not do what was asked
    ├── BusClosedError          the bus was used after ``close()`` (or before ``connect()``)
    ├── BrokerUnavailableError  the broker did not answer, or stayed away longer than allowed
    └── BrokerError             the broker refused a frame (a STOMP ERROR frame); ``message`` is its text
"""

from __future__ import annotations


class BusError(Exception):
    """The bus could not do what was asked (not connected, broker unreachable, bad destination)."""


class BusClosedError(BusError):
    """The bus is closed (or was never connected); open it with ``connect()`` or ``async with``."""


class BrokerUnavailableError(BusError):
    """The broker did not answer within the allowed time."""


class BrokerError(BusError):
    """The broker sent an ERROR frame; ``message`` holds the broker's own words."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(f"broker error: {message}" + (f" ({detail.strip()})" if detail.strip() else ""))
        self.message = message
        self.detail = detail
