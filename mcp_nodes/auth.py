"""Who is calling: the node token, the gateway's identity JWT, and namespace grants.

Two kinds of bearer token open the node's HTTP endpoint:

* the node token (``--token``): a direct caller with every namespace (an operator, the MCP
  Inspector, tests); recorded as user ``node:<node name>`` unless the token is also the
  gateway's;
* the gateway's identity JWT (``mcp_nodes.contract.identity``), signed per call with the
  gateway's Ed25519 key and checked with its public keys (the node holds no secret of the
  gateway's), for this node only (``aud`` "controlroom-node:<name>"): it names the user (recorded
  as ``started_by`` / ``executed_by``), the namespaces and scopes granted, which every tool
  enforces. A lookup credential (scope ``lookup``) opens only ``GET /entities``, never a tool.

Over stdio (a client that launched the node itself) there is no token: the caller is the local
user with every namespace.

Example::

    verifier = NodeTokenVerifier(node_token="t0k", keys=IdentityKeys(), node_name="n1")
    mcp = FastMCP("node", auth=verifier)
    ...
    identity = current_identity()          # inside a tool
    require_namespace(identity, "alice")   # raises Forbidden when not granted
"""

from __future__ import annotations

import getpass
import hmac
import logging

from fastmcp.server.auth import AccessToken, TokenVerifier
from fastmcp.server.dependencies import get_access_token

from mcp_nodes.contract.identity import (LOOKUP_SCOPE, Identity, IdentityError, IdentityKeys, identity_claims,
                                         node_audience)
from mcp_nodes.errors import BadArgument, Forbidden
from workflows.store.errors import NotFound

log = logging.getLogger(__name__)

__all__ = ["NodeTokenVerifier", "current_identity", "require_namespace", "require_visible", "visible_namespace"]


class NodeTokenVerifier(TokenVerifier):
    """Accept the node token (full access) or a gateway identity JWT for this node (its grants).

    ``keys`` are the gateway's public keys (filled and refreshed by the registration); ``verify_lookup``
    is the check of ``GET /entities`` (node token or a lookup credential for this node).
    """

    def __init__(self, *, node_token: str | None, keys: IdentityKeys, node_name: str) -> None:
        super().__init__()
        self._node_token = node_token
        self.keys = keys
        self.audience = node_audience(node_name)
        self._node_user = f"node:{node_name}"

    def _is_node_token(self, token: str) -> bool:
        return self._node_token is not None and hmac.compare_digest(token.encode(), self._node_token.encode())

    async def _identity(self, token: str) -> Identity | None:
        if token.count(".") != 2:
            return None
        try:
            return await self.keys.verify(token, self.audience)
        except IdentityError as error:
            log.info("refused an identity token: %s", error)
            return None

    async def verify_token(self, token: str) -> AccessToken | None:
        if self._is_node_token(token):
            return _access(token, Identity(user=self._node_user, namespaces=["*"], scopes=["admin"]))
        identity = await self._identity(token)
        if identity is None or LOOKUP_SCOPE in identity.scopes:
            return None  # a lookup credential opens /entities only
        return _access(token, identity)

    async def verify_lookup(self, token: str) -> bool:
        """True for the node token or a gateway lookup credential addressed to this node."""
        if self._is_node_token(token):
            return True
        identity = await self._identity(token)
        return identity is not None and LOOKUP_SCOPE in identity.scopes


def _access(token: str, identity: Identity) -> AccessToken:
    return AccessToken(token=token, client_id=identity.user, scopes=[], subject=identity.user,
                       claims=identity_claims(identity))


def current_identity() -> Identity:
    """The identity of the current call (local user with every namespace when unauthenticated)."""
    token = get_access_token()
    if token is None or "user" not in token.claims:
        return Identity(user=_local_user(), namespaces=["*"], scopes=["admin"])
    claims = token.claims
    return Identity(user=claims["user"], namespaces=list(claims.get("namespaces") or []),
                    scopes=list(claims.get("scopes") or []), request_id=claims.get("rid"), client=claims.get("client"))


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def require_namespace(identity: Identity, namespace: str) -> None:
    """Raise `Forbidden` unless ``identity`` grants ``namespace``."""
    if not identity.allows(namespace):
        raise Forbidden(namespace, identity.namespaces)


def require_visible(identity: Identity, namespace: str | None, kind: str, key: object) -> None:
    """Raise the store's ``NotFound(kind, key)`` unless ``identity`` grants ``namespace``.

    For get/wait/stop by id: an entity outside the caller's grants answers exactly like one that
    does not exist, so ids cannot be probed across namespaces (docs/security.md).
    """
    if namespace is not None and not identity.allows(namespace):
        raise NotFound(kind, key)


def visible_namespace(identity: Identity, namespace: str | None) -> str | None:
    """The namespace filter a list query must use for ``identity``.

    An admin ("*") may list across namespaces (None). A restricted caller gets its only
    namespace by default; with several grants it must name one (the system filters, not the
    client).
    """
    if namespace is not None:
        require_namespace(identity, namespace)
        return namespace
    if "*" in identity.namespaces:
        return None
    if len(identity.namespaces) == 1:
        return identity.namespaces[0]
    raise BadArgument("namespace", "required for your token, which grants several namespaces",
                      f"pass one of: {', '.join(identity.namespaces) or 'none'}")
