"""Bearer tokens -> principals: creation (printed once, stored as sha256) and lookup.

The `Authenticator` keeps what the database answered for at most ``refresh_s`` (0.5 s), then
reads the row again: a token revoked by `controlroom token revoke` (on this replica or another
one sharing the database) is refused within that time, and an expired one at once (its expiry
is checked on every call). Calls that find the same token's answer too old while its row is
being read wait for that one read instead of each reading the row (under 50 concurrent clients
more than half the calls read the database before; bench/gateway_overhead.py).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

import anyio

from mcp_gateway.errors import AuthError
from mcp_gateway.models import Principal
from mcp_gateway.registry_store import RegistryStore, StoredToken

TOKEN_PREFIX = "crt_"
REFRESH_S = 0.5
"""How long a looked-up token is trusted before its row is read again."""


def token_digest(token: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(store: RegistryStore, principal: Principal, expires_at: datetime | None = None) -> str:
    """Store a new token for ``principal`` and return it (the only time it is visible)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await store.add_token(token_digest(token), principal, expires_at)
    return token


@dataclass
class _Read:
    """One row read in flight, shared by the calls that need it."""

    started: float
    done: anyio.Event = field(default_factory=anyio.Event)
    token: StoredToken | None = None
    ok: bool = False


class Authenticator:
    """Resolve ``Authorization: Bearer`` values to principals, re-reading each row every ``refresh_s``."""

    def __init__(self, store: RegistryStore, refresh_s: float = REFRESH_S) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._known: dict[str, tuple[StoredToken, float]] = {}
        self._reads: dict[str, _Read] = {}

    async def load(self) -> None:
        """Warm the cache with every live token."""
        now = time.monotonic()
        self._known = {digest: (token, now) for digest, token in (await self._store.load_tokens()).items()}

    async def principal(self, authorization: str | None) -> Principal:
        """The principal for an Authorization header value; `AuthError` when there is none."""
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise AuthError("missing bearer token: send 'Authorization: Bearer <token>' "
                            "(create one with `controlroom token create --user U --namespaces N`)")
        digest = token_digest(authorization[7:].strip())
        now = time.monotonic()
        cached = self._known.get(digest)
        if cached is None or now - cached[1] > self._refresh_s:
            token = await self._read(digest)
            if token is None:
                raise AuthError("unknown or revoked bearer token (create one with `controlroom token create`)")
        else:
            token = cached[0]
        if token.expired():
            raise AuthError("expired bearer token (create a new one with `controlroom token create --expires ...`)")
        return token.principal

    async def _read(self, digest: str) -> StoredToken | None:
        """The token's row, read once for the calls that need it at the same time.

        A call joins a read begun at most ``refresh_s`` before it arrived, so what it is answered
        was read no more than ``refresh_s`` before the call, as for a cached answer (a revocation
        is seen within ``refresh_s`` even when the database is slow). The cache keeps the newest
        read, stamped with when that read began.
        """
        shared = self._reads.get(digest)
        if shared is not None and time.monotonic() - shared.started <= self._refresh_s:
            await shared.done.wait()
            if shared.ok:
                return shared.token
            # that read failed or was cancelled: this call reads for itself
        shared = self._reads[digest] = _Read(started=time.monotonic())
        try:
            shared.token = await self._store.find_token(digest)
            shared.ok = True
        finally:
            if self._reads.get(digest) is shared:
                del self._reads[digest]
            shared.done.set()
        held = self._known.get(digest)
        if held is None or held[1] <= shared.started:
            if shared.token is None:
                self._known.pop(digest, None)
            else:
                self._known[digest] = (shared.token, shared.started)
        return shared.token
