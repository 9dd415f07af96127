"""The error translation at the edge and the token verifier, without a testbed."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastmcp import Client, FastMCP
from pydantic import Field

from mcp_nodes.contract.identity import Identity, sign_identity
from mcp_nodes.auth import NodeTokenVerifier, require_namespace, visible_namespace
from mcp_nodes.edge import ErrorTranslation
from mcp_nodes.errors import BadArgument, Forbidden
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
    verifier = NodeTokenVerifier(node_token="tok", identity_secret="s" * 32, node_name="n1")
    admin = await verifier.verify_token("tok")
    assert admin is not None and admin.claims["user"] == "node:n1" and admin.claims["namespaces"] == ["*"]
    jwt = sign_identity("s" * 32, Identity(user="alice", namespaces=["a"], request_id="r"))
    alice = await verifier.verify_token(jwt)
    assert alice is not None and alice.claims["user"] == "alice" and alice.claims["namespaces"] == ["a"]
    assert await verifier.verify_token("nope") is None
    assert await verifier.verify_token(sign_identity("o" * 32, Identity(user="x", namespaces=["*"]))) is None


def test_namespace_grants() -> None:
    alice = Identity(user="alice", namespaces=["a"])
    require_namespace(alice, "a")
    with pytest.raises(Forbidden, match="namespace 'b' is not granted to you \\(granted: a\\)"):
        require_namespace(alice, "b")
    assert visible_namespace(alice, None) == "a"
    assert visible_namespace(Identity(user="root", namespaces=["*"]), None) is None
    with pytest.raises(BadArgument, match="namespace: required"):
        visible_namespace(Identity(user="c", namespaces=["a", "b"]), None)
