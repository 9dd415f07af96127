"""The FastMCP side of node identity: a bearer-token verifier for the gateway's identity JWTs.

Kept apart from `mcp_nodes.contract.identity` so that importing the identity model (the gateway's
registry store and command-line tools do) does not import FastMCP.
"""

from __future__ import annotations

import logging

from fastmcp.server.auth import AccessToken, TokenVerifier

from mcp_nodes.contract.identity import LOOKUP_SCOPE, IdentityError, IdentityKeys, identity_claims

__all__ = ["IdentityVerifier"]

log = logging.getLogger(__name__)


class IdentityVerifier(TokenVerifier):
    """FastMCP bearer-token verifier accepting the gateway's identity JWTs for one node.

    Lookup credentials (scope ``lookup``) are refused: they open ``/entities``, not tools.

    Example::

        mcp = FastMCP("node", auth=IdentityVerifier(keys, node_audience("n1")))
    """

    def __init__(self, keys: IdentityKeys, audience: str) -> None:
        super().__init__()
        self.keys = keys
        self.audience = audience

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            identity = await self.keys.verify(token, self.audience)
        except IdentityError as error:
            log.info("refused an identity token: %s", error)
            return None
        if LOOKUP_SCOPE in identity.scopes:
            log.info("refused a lookup credential on a tool endpoint")
            return None
        return AccessToken(token=token, client_id=identity.user, scopes=[], subject=identity.user,
                           claims=identity_claims(identity))
