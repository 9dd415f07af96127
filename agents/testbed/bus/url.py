"""Which bus adapter a process uses, chosen in this one place from a bus URL.

Two forms: ``"embedded"`` (a new, private in-process bus: one per process, so everything that
must talk shares the one object) and ``"stomp://HOST:PORT"`` (a new connection to a STOMP
broker). Everything that opens a bus (the node's testbed manager, an agent child process, a task
worker, a task workflow's run) names it by URL and calls :func:`bus_from_url`; nothing else
constructs an adapter.

Example::

    >>> bus_url(("127.0.0.1", 61613))
    'stomp://127.0.0.1:61613'
    >>> bus_url(None)
    'embedded'
    >>> type(bus_from_url("embedded")).__name__
    'EmbeddedBus'
"""

from __future__ import annotations

from agents.testbed.bus.base import Bus

EMBEDDED = "embedded"
STOMP_SCHEME = "stomp://"

__all__ = ["EMBEDDED", "InvalidBusUrl", "bus_from_url", "bus_url", "stomp_address"]


class InvalidBusUrl(ValueError):
    """A bus URL that names no adapter, or a STOMP URL without a usable host and port."""


def bus_url(stomp: tuple[str, int] | None) -> str:
    """The URL of the bus at broker ``stomp`` = (host, port), or of the embedded bus with None."""
    if stomp is None:
        return EMBEDDED
    host, port = stomp
    return f"{STOMP_SCHEME}{host}:{port}"


def stomp_address(url: str) -> tuple[str, int] | None:
    """(host, port) of a ``stomp://HOST:PORT`` URL, None for ``embedded``; raise on anything else."""
    if url == EMBEDDED:
        return None
    if not url.startswith(STOMP_SCHEME):
        raise InvalidBusUrl(f"bus url {url!r} is not valid: use 'embedded' or 'stomp://HOST:PORT' "
                            "(e.g. stomp://127.0.0.1:61613)")
    host, sep, port = url.removeprefix(STOMP_SCHEME).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidBusUrl(f"bus url {url!r}: the STOMP address must be HOST:PORT with a port in 1..65535 "
                            "(e.g. stomp://127.0.0.1:61613)")
    return host, int(port)


def bus_from_url(url: str) -> Bus:
    """A new, not yet connected bus for ``url`` (``connect()`` it, or use it with ``async with``)."""
    address = stomp_address(url)
    if address is None:
        from agents.testbed.bus.embedded import EmbeddedBus

        return EmbeddedBus()
    from agents.testbed.bus.stomp import StompBus

    host, port = address
    return StompBus(host, port)
