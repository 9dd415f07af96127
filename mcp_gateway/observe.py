"""Per-call records: the `CallObserver` hook list the provenance recorder plugs into.

Every tools/call through the gateway produces exactly one `CallRecord` (outcome ok, is_error,
denied, timeout, cancelled, node_down or rate_limited), handed to each observer in order.

Example::

    class Printer:
        async def on_call(self, record: CallRecord) -> None:
            print(record.tool, record.node, record.outcome)

    gateway = build_gateway(settings, observers=[Printer()])
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from mcp_gateway.models import CallRecord

log = logging.getLogger(__name__)


@runtime_checkable
class CallObserver(Protocol):
    """Receives one record per tools/call, after the answer went to the client."""

    async def on_call(self, record: CallRecord) -> None: ...


async def notify(observers: list[CallObserver], record: CallRecord) -> None:
    """Hand ``record`` to each observer; an observer's failure is logged, never the caller's."""
    for observer in observers:
        try:
            await observer.on_call(record)
        except Exception:
            log.exception("call observer %r failed on call %s", observer, record.call_id)
