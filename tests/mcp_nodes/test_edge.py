"""The error translation at the edge and the token verifier, without a testbed."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastmcp import Client, FastMCP
from pydantic import Field

from mcp_nodes.contract.identity import Identity, IdentityKeys, SigningKey, lookup_identity
from mcp_nodes.auth import NodeTokenVerifier, require_namespace, visible_namespace
from mcp_nodes.edge import ErrorTranslation
from mcp_nodes.errors import BadArgument, Forbidden
from tests.support.identity import JWKS, identity_token
from workflows.store.errors import NotFound


def _server() -> FastMCP:
    mcp = FastMCP("edge-test", middleware=[ErrorTranslation()], mask_error_details=False)

    @mcp.tool
    async def bounded(n: Annotated[int, Field(ge=1, le=5)], label: str = "x") -> int:
        """Return n."""
        if label == "missing":
            raise NotFound("execution", "e-1")
        if label == "crash":
            raise ZeroDivisionError("boom")
        return n

    return mcp


@pytest.mark.parametrize(("args", "expected"), [
    ({"n": "ten"}, "n: Input should be a valid integer"),
    ({"n": 9}, "n: Input should be less than or equal to 5 (got 9)"),
    ({}, "n: is required; pass a value"),
    ({"n": 1, "colour": 2}, "colour: is not a parameter of this tool (got 2); remove it; valid parameters: label, n"),
    ({"n": 1, "label": "missing"}, "no execution with id 'e-1'"),
    ({"n": 1, "label": "crash"}, "bounded failed on the node (ZeroDivisionError: boom); this is a node bug"),
])
async def test_errors_are_one_clear_line(args: dict[str, object], expected: str) -> None:
    async with Client(_server()) as client:
        result = await client.call_tool("bounded", args, raise_on_error=False)
    assert result.is_error
    text = result.content[0].text
    assert expected in text
    assert "Traceback" not in text and "pydantic.dev" not in text


async def test_token_verifier_accepts_node_token_and_gateway_identity() -> None:
    verifier = NodeTokenVerifier(node_token="tok", keys=IdentityKeys(JWKS), node_name="n1")
    admin = await verifier.verify_token("tok")
    assert admin is not None and admin.claims["user"] == "node:n1" and admin.claims["namespaces"] == ["*"]
    jwt = identity_token("n1", Identity(user="alice", namespaces=["a"], scopes=["read"], request_id="r"))
    alice = await verifier.verify_token(jwt)
    assert alice is not None and alice.claims["user"] == "alice" and alice.claims["namespaces"] == ["a"]
    assert alice.claims["scopes"] == ["read"]
    assert await verifier.verify_token("nope") is None
    other_key = identity_token("n1", Identity(user="x", namespaces=["*"]), key=SigningKey.generate())
    assert await verifier.verify_token(other_key) is None
    other_node = identity_token("n2", Identity(user="alice", namespaces=["a"]))
    assert await verifier.verify_token(other_node) is None
    lookup = identity_token("n1", lookup_identity())
    assert await verifier.verify_token(lookup) is None  # a lookup credential opens no tool
    assert await verifier.verify_lookup(lookup) and await verifier.verify_lookup("tok")
    assert not await verifier.verify_lookup(jwt)  # a caller's identity does not open /entities


def test_namespace_grants() -> None:
    alice = Identity(user="alice", namespaces=["a"])
    require_namespace(alice, "a")
    with pytest.raises(Forbidden, match="namespace 'b' is not granted to you \\(granted: a\\)"):
        require_namespace(alice, "b")
    assert visible_namespace(alice, None) == "a"
    assert visible_namespace(Identity(user="root", namespaces=["*"]), None) is None
    with pytest.raises(BadArgument, match="namespace: required"):
        visible_namespace(Identity(user="c", namespaces=["a", "b"]), None)
