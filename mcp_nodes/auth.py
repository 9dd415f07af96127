"""Who is calling: the node token, the gateway's identity JWT, and namespace grants.

Two kinds of bearer token open the node's HTTP endpoint:

* the node token (``--token``): a direct caller with every namespace (an operator, the MCP
  Inspector, tests); recorded as user ``node:<node name>`` unless the token is also the
  gateway's;
* the gateway's identity JWT (``mcp_nodes.contract.identity``), signed per call with the secret shared
  by gateway and node: it names the user (recorded as ``started_by`` / ``executed_by``) and the
  namespaces granted, which every tool enforces.

Over stdio (a client that launched the node itself) there is no token: the caller is the local
user with every namespace.

Example::

    verifier = NodeTokenVerifier(node_token="t0k", identity_secret=None, node_name="n1")
    mcp = FastMCP("node", auth=verifier)
    ...
    identity = current_identity()          # inside a tool
    require_namespace(identity, "alice")   # raises Forbidden when not granted
"""

from __future__ import annotations

import getpass
import hmac

from fastmcp.server.auth import AccessToken, TokenVerifier
from fastmcp.server.dependencies import get_access_token

from mcp_nodes.contract.identity import Identity, IdentityError, verify_identity
from mcp_nodes.errors import BadArgument, Forbidden
from workflows.store.errors import NotFound

__all__ = ["NodeTokenVerifier", "current_identity", "require_namespace", "require_visible", "visible_namespace"]


class NodeTokenVerifier(TokenVerifier):
    """Accept the node token (full access) or a gateway identity JWT (its grants)."""

    def __init__(self, *, node_token: str | None, identity_secret: str | None, node_name: str) -> None:
        super().__init__()
        self._node_token = node_token
        self._secret = identity_secret
        self._node_user = f"node:{node_name}"

    async def verify_token(self, token: str) -> AccessToken | None:
        if self._node_token is not None and hmac.compare_digest(token.encode(), self._node_token.encode()):
            return _access(token, Identity(user=self._node_user, namespaces=["*"], scopes=["admin"]))
        if self._secret is not None and token.count(".") == 2:
            try:
                return _access(token, verify_identity(self._secret, token))
            except IdentityError:
                return None
        return None


def _access(token: str, identity: Identity) -> AccessToken:
    return AccessToken(
        token=token, client_id=identity.user, scopes=[], subject=identity.user,
        claims={"user": identity.user, "namespaces": identity.namespaces, "scopes": identity.scopes,
                "rid": identity.request_id, "client": identity.client},
    )


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
