"""The caller's identity as a short-lived EdDSA (Ed25519) JWT: signed by the gateway, verified by nodes.

Only the gateway holds private keys (`mcp_gateway.keys.KeyRing`). A node holds the public ones:
a JWKS the gateway serves at ``GET /nodes/jwks`` and returns with every registration and
heartbeat (`RegistrationAccepted.jwks`). So nothing secret is copied to a node and no node can
mint an identity, for itself or for another node.

The gateway sends the token as ``Authorization: Bearer <jwt>``. Header: ``alg`` EdDSA, ``kid``
(which key signed). Claims: ``iss`` "controlroom-gateway", ``aud`` "controlroom-node:<node name>"
(one node: a token a node received is refused by every other node), ``sub``/``user``,
``namespaces`` and ``scopes`` (the caller's own; "*" only when the caller is an admin), ``rid``
(the gateway's call id), ``client`` (the MCP client name or null), ``iat``/``exp``.

The entity-owner lookups of the gateway carry scope ``lookup`` and no namespace: good for
``GET /entities/...`` of that one node and nothing else (a tool endpoint refuses them).

Example::

    key = SigningKey.generate()                                     # the gateway's
    token = sign_identity(key, Identity(user="alice", namespaces=["a"]), node_audience("n1"))
    keys = IdentityKeys(jwks_of([key]))                             # the node's: public only
    identity = await keys.verify(token, node_audience("n1"))
    assert identity.user == "alice"

A FastMCP node can use `mcp_nodes.contract.verifier.IdentityVerifier(keys, node_audience(name))` as
its ``auth=`` and read the claims with ``fastmcp.server.dependencies.get_access_token().claims``.
This module does not import FastMCP: the gateway's command-line tools load it through the
registry store, and FastMCP's import costs them most of a second.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pydantic import BaseModel, Field

__all__ = ["ALGORITHM", "AUDIENCE_PREFIX", "IDENTITY_HEADER", "ISSUER", "LOOKUP_SCOPE", "Identity",
           "IdentityError", "IdentityKeys", "SigningKey", "identity_claims", "jwks_of",
           "lookup_identity", "node_audience", "sign_identity"]

log = logging.getLogger(__name__)

IDENTITY_HEADER = "Authorization"
ISSUER = "controlroom-gateway"
AUDIENCE_PREFIX = "controlroom-node:"
ALGORITHM = "EdDSA"
LOOKUP_SCOPE = "lookup"
"""The scope of the gateway's entity-owner lookups: ``GET /entities`` only, never a tool."""


def node_audience(node: str) -> str:
    """The ``aud`` of identity tokens for node ``node``: ``controlroom-node:<node>``."""
    return AUDIENCE_PREFIX + node


class IdentityError(Exception):
    """The identity token is missing, expired, forged, for another node or malformed."""


class Identity(BaseModel):
    """The principal a node acts for."""

    user: str
    namespaces: list[str] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=list, description="capabilities (mcp_nodes.contract.scopes)")
    request_id: str | None = None
    client: str | None = None

    def allows(self, namespace: str) -> bool:
        """True when ``namespace`` is granted ("*" grants all)."""
        return "*" in self.namespaces or namespace in self.namespaces


def lookup_identity() -> Identity:
    """The credential of an entity-owner lookup: the gateway, scope ``lookup``, no namespace."""
    return Identity(user=ISSUER, namespaces=[], scopes=[LOOKUP_SCOPE])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key and its ``kid`` (the gateway's; never sent to a node)."""

    kid: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        return cls(kid=_thumbprint(private.public_key()), private=private)

    @classmethod
    def from_seed(cls, seed: str) -> SigningKey:
        """From the base64url 32-byte seed written by `seed` (the JWK ``d``)."""
        private = Ed25519PrivateKey.from_private_bytes(_unb64(seed))
        return cls(kid=_thumbprint(private.public_key()), private=private)

    def seed(self) -> str:
        return _b64(self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK (RFC 8037): what nodes receive."""
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw), "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


def _thumbprint(public: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint of an Ed25519 public key (first 16 characters): the ``kid``."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % _b64(raw)
    return _b64(hashlib.sha256(canonical.encode()).digest())[:16]


def jwks_of(keys: Sequence[SigningKey]) -> dict[str, Any]:
    """The public JWKS of ``keys``."""
    return {"keys": [key.public_jwk() for key in keys]}


def sign_identity(key: SigningKey, identity: Identity, audience: str, ttl_s: float = 120.0) -> str:
    """A compact EdDSA JWT for ``identity``, for ``audience`` only, valid for ``ttl_s`` seconds."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": audience,
        "sub": identity.user,
        "user": identity.user,
        "namespaces": identity.namespaces,
        "scopes": identity.scopes,
        "rid": identity.request_id,
        "client": identity.client,
        "iat": now,
        "exp": now + int(ttl_s),
    }
    return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})


class IdentityKeys:
    """The gateway's public keys as a node knows them: a JWKS, replaced when the gateway sends one.

    A token signed with a ``kid`` the node does not know makes it ``fetch`` the JWKS again (the
    gateway rotated its key), at most once per ``min_refresh_s`` so forged kids cannot make a
    node hammer the gateway.
    """

    def __init__(self, jwks: dict[str, Any] | None = None, *,
                 fetch: Callable[[], Awaitable[dict[str, Any]]] | None = None, min_refresh_s: float = 5.0) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        self.fetch = fetch
        self.min_refresh_s = min_refresh_s
        self._last_fetch = float("-inf")
        self._lock = anyio.Lock()
        if jwks is not None:
            self.update(jwks)

    @property
    def kids(self) -> list[str]:
        return sorted(self._keys)

    def update(self, jwks: dict[str, Any]) -> None:
        """Replace the known keys with the Ed25519 keys of ``jwks`` (others are ignored)."""
        keys: dict[str, Ed25519PublicKey] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not jwk.get("kid"):
                continue
            try:
                keys[str(jwk["kid"])] = Ed25519PublicKey.from_public_bytes(_unb64(str(jwk["x"])))
            except (KeyError, ValueError) as error:
                log.warning("ignoring an unusable key %r in the gateway's JWKS: %s", jwk.get("kid"), error)
        self._keys = keys

    def verify_known(self, token: str, audience: str) -> Identity:
        """Verify with the keys known now (no refresh); `IdentityError` names the problem."""
        return self._decode(token, audience, self._key_for(_kid_of(token)))

    async def verify(self, token: str, audience: str) -> Identity:
        """Verify ``token`` for ``audience``, refreshing the JWKS once on an unknown ``kid``."""
        kid = _kid_of(token)
        key = self._keys.get(kid)
        if key is None:
            await self._refresh()
            key = self._key_for(kid)
        return self._decode(token, audience, key)

    async def _refresh(self) -> None:
        if self.fetch is None:
            return
        async with self._lock:
            if time.monotonic() - self._last_fetch < self.min_refresh_s:
                return
            self._last_fetch = time.monotonic()
            try:
                self.update(await self.fetch())
            except Exception as error:  # noqa: BLE001 - an unreachable gateway only means "still unknown"
                log.warning("could not refresh the gateway's identity keys: %s", error)

    def _key_for(self, kid: str) -> Ed25519PublicKey:
        key = self._keys.get(kid)
        if key is None:
            known = ", ".join(self.kids) or "none yet (the node has not registered)"
            raise IdentityError(f"identity token signed with key {kid!r}, which the gateway does not publish "
                                f"(known: {known})")
        return key

    @staticmethod
    def _decode(token: str, audience: str, key: Ed25519PublicKey) -> Identity:
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=audience, issuer=ISSUER,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError as error:
            raise IdentityError("identity token expired; the gateway signs a fresh one per call") from error
        except jwt.InvalidAudienceError as error:
            raise IdentityError(f"identity token is not for this node (audience {audience!r})") from error
        except jwt.InvalidTokenError as error:
            raise IdentityError(f"identity token rejected: {error}") from error
        return Identity(
            user=claims["user"], namespaces=list(claims.get("namespaces") or []),
            scopes=list(claims.get("scopes") or []), request_id=claims.get("rid"), client=claims.get("client"),
        )


def _kid_of(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise IdentityError(f"identity token rejected: {error}") from error
    if header.get("alg") != ALGORITHM:
        raise IdentityError(f"identity token rejected: algorithm {header.get('alg')!r}, only {ALGORITHM} is accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise IdentityError("identity token rejected: no 'kid' in its header")
    return kid


def identity_claims(identity: Identity) -> dict[str, Any]:
    """The claims a FastMCP `AccessToken` carries for ``identity`` (read by the node's tools)."""
    return {"user": identity.user, "namespaces": identity.namespaces, "scopes": identity.scopes,
            "rid": identity.request_id, "client": identity.client}
