"""A circuit breaker per node: consecutive failures open it, a trial call after a pause closes it.

Only the node's own failures are recorded (`mcp_gateway.calls.Forwarder`): HTTP 5xx, timeouts,
broken answers, refused connections. A 4xx the caller caused or an answer over the output limit
is that caller's error and leaves the breaker as it was, so one tenant cannot open it for all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(slots=True)
class Breaker:
    """Counts consecutive failures of one node.

    Example::

        breaker = Breaker(failures_to_open=3, reset_s=5.0)
        if breaker.allow(): ...; breaker.record(ok=True)
    """

    failures_to_open: int
    reset_s: float
    failures: int = 0
    opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.reset_s else "open"

    def allow(self) -> bool:
        """False while open; in half-open one call passes (and re-arms the pause)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open":
            self.opened_at = time.monotonic()
            return True
        return False

    def record(self, ok: bool) -> None:
        if ok:
            self.failures, self.opened_at = 0, None
            return
        self.failures += 1
        if self.failures >= self.failures_to_open:
            self.opened_at = time.monotonic()


class Breakers:
    """One `Breaker` per node name, created on first use."""

    def __init__(self, failures_to_open: int, reset_s: float) -> None:
        self._failures_to_open = failures_to_open
        self._reset_s = reset_s
        self._by_node: dict[str, Breaker] = {}

    def __getitem__(self, node: str) -> Breaker:
        breaker = self._by_node.get(node)
        if breaker is None:
            breaker = self._by_node[node] = Breaker(self._failures_to_open, self._reset_s)
        return breaker

    def any_open(self) -> bool:
        """True when some breaker has tripped (open or half-open); cheap, for the routing hot path."""
        return any(b.opened_at is not None for b in self._by_node.values())

    def is_open(self, node: str) -> bool:
        breaker = self._by_node.get(node)
        return breaker is not None and breaker.state == "open"

    def reset(self, node: str) -> None:
        self._by_node.pop(node, None)
