"""A gateway signing key for tests that call a node directly with an identity token.

The node under test gets the public half in its settings (``identity_jwks=JWKS``), as a node
registered with a gateway gets it from the registration.

Example::

    settings = NodeSettings(name="n1", identity_jwks=JWKS, ...)
    token = identity_token("n1", Identity(user="bob", namespaces=["bob"], scopes=["read", "operate"]))
"""

from __future__ import annotations

from mcp_nodes.contract.identity import Identity, SigningKey, jwks_of, node_audience, sign_identity

__all__ = ["GATEWAY_KEY", "JWKS", "identity_token"]

GATEWAY_KEY = SigningKey.generate()
JWKS = jwks_of([GATEWAY_KEY])


def identity_token(node: str, identity: Identity, key: SigningKey = GATEWAY_KEY, ttl_s: float = 300.0) -> str:
    """An identity token for ``node`` signed like the gateway signs it (with ``key``)."""
    return sign_identity(key, identity, node_audience(node), ttl_s)
