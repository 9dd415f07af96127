"""Bearer tokens -> principals: creation (printed once, stored as sha256) and lookup."""

from __future__ import annotations

import hashlib
import secrets

from mcp_gateway.errors import AuthError
from mcp_gateway.models import Principal
from mcp_gateway.registry_store import RegistryStore

TOKEN_PREFIX = "crt_"


def token_digest(token: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(store: RegistryStore, principal: Principal) -> str:
    """Store a new token for ``principal`` and return it (the only time it is visible)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await store.add_token(token_digest(token), principal)
    return token


class Authenticator:
    """Resolve ``Authorization: Bearer`` values to principals, caching what the store answered."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store
        self._known: dict[str, Principal] = {}

    async def load(self) -> None:
        self._known = await self._store.load_tokens()

    async def principal(self, authorization: str | None) -> Principal:
        """The principal for an Authorization header value; `AuthError` when there is none."""
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise AuthError("missing bearer token: send 'Authorization: Bearer <token>' "
                            "(create one with `controlroom token create --user U --namespaces N`)")
        digest = token_digest(authorization[7:].strip())
        principal = self._known.get(digest)
        if principal is None:
            principal = await self._store.find_token(digest)
            if principal is None:
                raise AuthError("unknown bearer token (create one with `controlroom token create`)")
            self._known[digest] = principal
        return principal
