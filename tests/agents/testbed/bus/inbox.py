"""A recording handler target that tests can await."""

from __future__ import annotations

import asyncio


class Inbox:
    """Collects bodies seen by a handler and lets a test await a count."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self._changed = asyncio.Event()

    def add(self, body: dict) -> None:
        self.bodies.append(body)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        async with asyncio.timeout(timeout):
            while len(self.bodies) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.bodies
