"""The live feed: server-sent events that carry a page fragment each time it changes.

A page opens ``EventSource`` (htmx's SSE extension, ``sse-connect``) on a feed; the feed renders
the fragment every ``period_s`` through the gateway's call chain (so the reads are scoped and
recorded like any other) and sends it only when the HTML differs from the last one sent; htmx
swaps it in (``sse-swap``). Once the subject has settled (a finished execution) the feed slows
to ``settled_period_s`` instead of closing (EventSource would reconnect at once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

Render = Callable[[], Awaitable[tuple[str, bool]]]
"""Returns (the fragment's HTML, whether the subject has settled)."""

PING_S = 15
SETTLED_PERIOD_S = 5.0


async def fragments(render: Render, event: str, period_s: float,
                    settled_period_s: float = SETTLED_PERIOD_S) -> AsyncIterator[ServerSentEvent]:
    """Each changed rendering of ``render`` as one SSE ``event``."""
    last: str | None = None
    while True:
        html, settled = await render()
        if html != last:
            last = html
            yield ServerSentEvent(data=html, event=event)
        await anyio.sleep(settled_period_s if settled else period_s)


def feed(render: Render, event: str, period_s: float) -> EventSourceResponse:
    """The SSE response of a live fragment."""
    return EventSourceResponse(fragments(render, event, period_s), ping=PING_S,
                               headers={"x-accel-buffering": "no"})
