"""Bearer tokens -> principals: creation (printed once, stored as sha256) and lookup.

The `Authenticator` keeps what the database answered for at most ``refresh_s`` (0.5 s), then
reads the row again: a token revoked by `controlroom token revoke` (on this replica or another
one sharing the database) is refused within that time, and an expired one at once (its expiry
is checked on every call).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime

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


class Authenticator:
    """Resolve ``Authorization: Bearer`` values to principals, re-reading each row every ``refresh_s``."""

    def __init__(self, store: RegistryStore, refresh_s: float = REFRESH_S) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._known: dict[str, tuple[StoredToken, float]] = {}

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
            token = await self._store.find_token(digest)
            if token is None:
                self._known.pop(digest, None)
                raise AuthError("unknown or revoked bearer token (create one with `controlroom token create`)")
            self._known[digest] = (token, now)
        else:
            token = cached[0]
        if token.expired():
            raise AuthError("expired bearer token (create a new one with `controlroom token create --expires ...`)")
        return token.principal
