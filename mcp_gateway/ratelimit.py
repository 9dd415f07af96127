"""A token bucket per principal."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mcp_gateway.errors import RateLimited


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``rate_per_s`` calls per second per user, bursts up to ``burst``.

    Example::

        limiter = RateLimiter(rate_per_s=5, burst=10)
        limiter.take("alice")          # raises RateLimited when empty
    """

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, user: str) -> None:
        now = time.monotonic()
        bucket = self._buckets.get(user)
        if bucket is None:
            bucket = self._buckets[user] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) / self.rate_per_s
            raise RateLimited(f"rate limit of {self.rate_per_s:g} calls/s (burst {self.burst:g}) for "
                              f"{user!r} reached; retry in {wait:.2f} s (CONTROLROOM_GATEWAY_RATE_PER_S)")
        bucket.tokens -= 1.0
