"""The STOMP broker, made unreachable for real: a TCP forwarder the harness owns and can cut.

Example::

    async with BrokerProxy(("127.0.0.1", 61613)) as proxy:
        ...   # point the node at 127.0.0.1:{proxy.port}
        await proxy.cut()
"""

from __future__ import annotations

import asyncio
import contextlib

DEFAULT_BROKER = ("127.0.0.1", 61613)


class BrokerProxy:
    """A TCP forwarder in front of the STOMP broker; ``cut()`` makes the broker unreachable for real.

    After a cut the port refuses connections (nothing listens) and every open connection is closed;
    ``drop()`` closes the open connections once and keeps listening. ``accepted`` counts the
    connections forwarded so far, so a caller can wait until the dropped ones have come back.
    """

    def __init__(self, broker: tuple[str, int] = DEFAULT_BROKER) -> None:
        self.broker = broker
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._clients: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    async def __aenter__(self) -> BrokerProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.broker)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        self._clients.add(writer)
        self.accepted += 1

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._writers -= {writer, up_writer}
        self._clients.discard(writer)

    async def drop(self) -> int:
        """Close every forwarded connection once and keep listening (the broker is back at once);
        how many client connections were closed."""
        dropped = len(self._clients)
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        self._clients.clear()
        return dropped

    async def cut(self) -> None:
        """Stop listening and close every forwarded connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        await self.drop()


async def broker_answers(address: tuple[str, int], timeout_s: float = 2.0) -> bool:
    """Whether something accepts TCP connections at ``address`` (the STOMP broker)."""
    try:
        async with asyncio.timeout(timeout_s):
            _reader, writer = await asyncio.open_connection(*address)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
