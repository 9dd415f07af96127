"""The caller's identity as a short-lived HS256 JWT: signed by the gateway, verified by nodes.

The gateway sends it to the node as ``Authorization: Bearer <jwt>`` (header `IDENTITY_HEADER`).
Claims: ``iss`` "controlroom-gateway", ``aud`` "controlroom-node", ``sub``/``user``, ``namespaces``
(a list, "*" = all), ``scopes``, ``rid`` (the gateway's call id), ``client`` (the MCP client name or null),
``iat``/``exp``.

Example::

    token = sign_identity(secret, Identity(user="alice", namespaces=["a"], request_id="c1"))
    identity = verify_identity(secret, token)      # on the node
    assert identity.user == "alice"

A FastMCP node can use `IdentityVerifier(secret)` as its ``auth=`` and read the claims with
``fastmcp.server.dependencies.get_access_token().claims``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from fastmcp.server.auth import AccessToken, TokenVerifier
from pydantic import BaseModel, Field

__all__ = ["IDENTITY_HEADER", "Identity", "IdentityError", "IdentityVerifier", "sign_identity", "verify_identity"]

IDENTITY_HEADER = "Authorization"
ISSUER = "controlroom-gateway"
AUDIENCE = "controlroom-node"


class IdentityError(Exception):
    """The identity token is missing, expired, forged or malformed."""


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


def sign_identity(secret: str, identity: Identity, ttl_s: float = 120.0) -> str:
    """A compact JWT for ``identity`` valid for ``ttl_s`` seconds."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": identity.user,
        "user": identity.user,
        "namespaces": identity.namespaces,
        "scopes": identity.scopes,
        "rid": identity.request_id,
        "client": identity.client,
        "iat": now,
        "exp": now + int(ttl_s),
    }
    # Hand-assembled compact JWS (the gateway signs one per call; pyjwt.encode costs ~50 us,
    # this ~10 us); `verify_identity` checks it with pyjwt.
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = _HEADER + b"." + payload
    signature = _b64(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode("ascii")


_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def verify_identity(secret: str, token: str) -> Identity:
    """Check signature, issuer, audience and expiry; raise `IdentityError` naming the problem."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    except jwt.ExpiredSignatureError as error:
        raise IdentityError("identity token expired; the gateway signs a fresh one per call") from error
    except jwt.InvalidTokenError as error:
        raise IdentityError(f"identity token rejected: {error} (is the node's identity secret the gateway's?)") from error
    return Identity(
        user=claims["user"], namespaces=list(claims.get("namespaces") or []),
        scopes=list(claims.get("scopes") or []), request_id=claims.get("rid"), client=claims.get("client"),
    )


class IdentityVerifier(TokenVerifier):
    """FastMCP bearer-token verifier accepting the gateway's identity JWTs.

    Example::

        mcp = FastMCP("node", auth=IdentityVerifier(secret))
    """

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            identity = verify_identity(self._secret, token)
        except IdentityError:
            return None
        return AccessToken(
            token=token, client_id=identity.user, scopes=[], subject=identity.user,
            claims={"user": identity.user, "namespaces": identity.namespaces, "scopes": identity.scopes,
                    "rid": identity.request_id, "client": identity.client},
        )
