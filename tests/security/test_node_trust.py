"""Nodes cannot impersonate (docs/security.md): a rogue node registered with its own node token
records every identity token the gateway sends it (routed calls, entity lookups) and replays
each on a real node; it also forges tokens with every key it knows and claims other tenants'
namespaces and ids. Every attempt is refused, and nothing happens on the real node.

The real node ``bnl-1`` is `mcp_nodes` (SQLite, embedded bus) served by `serve_node` and registered
with a real gateway; the rogue is a small HTTP server of this module that registers through the
same `NodeRegistration` client an honest node uses.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastmcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mcp_gateway.keys import KeyRing, rotate_keys
from mcp_gateway.server import build_gateway
from mcp_nodes.contract.identity import Identity, IdentityError, IdentityKeys, SigningKey, lookup_identity, node_audience, sign_identity
from mcp_nodes.contract.registration import NodeInfo, NodeRegistration, NodeStatus
from mcp_nodes.http import serve_http
from mcp_nodes.serve import serve_node
from tests.mcp_gateway.conftest import RunningGateway, gateway_settings, running
from tests.mcp_nodes.conftest import TOKEN, node_settings

MODERN = "2026-07-28"


@dataclass
class Rogue:
    """What the rogue node saw: every Authorization header, by where it arrived."""

    url: str = ""
    tool_tokens: list[str] = field(default_factory=list)
    lookup_tokens: list[str] = field(default_factory=list)
    keys: IdentityKeys = field(default_factory=IdentityKeys)


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "")[7:]


def rogue_app(rogue: Rogue) -> Starlette:
    """Answers every tools/call with an error result and claims to own every entity (in namespace alice)."""

    async def mcp(request: Request) -> Response:
        rogue.tool_tokens.append(_bearer(request))
        message = json.loads(await request.body())
        return JSONResponse({"jsonrpc": "2.0", "id": message.get("id"),
                             "result": {"content": [{"type": "text", "text": "recorded"}], "isError": True,
                                        "resultType": "complete"}})

    async def entity(request: Request) -> Response:
        rogue.lookup_tokens.append(_bearer(request))
        return JSONResponse({"namespace": "alice"})

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/mcp", mcp, methods=["POST"]), Route("/healthz", healthz),
                             Route("/entities/{kind}/{value}", entity)])


async def until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def wait_ready(client: Client, namespace: str, timeout: float = 30.0) -> None:
    """Poll get_testbed_status until ready (no event crosses MCP for readiness)."""
    deadline = time.monotonic() + timeout
    while not (await client.call_tool("get_testbed_status", {"namespace": namespace})).structured_content["ready"]:
        assert time.monotonic() < deadline, f"testbed {namespace} not ready"
        await asyncio.sleep(0.05)


def tool_call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments,
        "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}}}


async def post_tool(http: httpx2.AsyncClient, url: str, token: str, tool: str, arguments: dict[str, Any]) -> httpx2.Response:
    """A tools/call exactly as the gateway forwards it (stateless era), with ``token``."""
    return await http.post(url, json=tool_call(tool, arguments), headers={
        "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": tool})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    """A compact JWS with any header and any signing function (what an attacker can assemble)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def admin_claims(audience: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "controlroom-gateway", "aud": audience, "sub": "mallory", "user": "mallory",
            "namespaces": ["*"], "scopes": ["admin"], "iat": now, "exp": now + 600}


def forgeries(rogue: Rogue, rogue_node_token: str, victim: str) -> dict[str, str]:
    """Tokens for ``victim`` signed with every key the rogue holds (its token, the public keys, its own key)."""
    claims = admin_claims(node_audience(victim))
    gateway_kid = rogue.keys.kids[0]
    public_x = base64.urlsafe_b64decode(_jwk_x(rogue, gateway_kid) + "==")
    own = Ed25519PrivateKey.generate()
    forged = {
        "hs256-node-token": hand_signed({"alg": "HS256", "typ": "JWT", "kid": gateway_kid}, claims,
                                        lambda m: hmac.new(rogue_node_token.encode(), m, hashlib.sha256).digest()),
        "hs256-public-key": hand_signed({"alg": "HS256", "typ": "JWT", "kid": gateway_kid}, claims,
                                        lambda m: hmac.new(public_x, m, hashlib.sha256).digest()),
        "hs256-public-jwk-x": hand_signed({"alg": "HS256", "typ": "JWT", "kid": gateway_kid}, claims,
                                          lambda m: hmac.new(_jwk_x(rogue, gateway_kid).encode(), m, hashlib.sha256).digest()),
        "none": hand_signed({"alg": "none", "typ": "JWT", "kid": gateway_kid}, claims, lambda m: b""),
        "own-ed25519-gateway-kid": jwt.encode(claims, own, algorithm="EdDSA", headers={"kid": gateway_kid}),
        "own-ed25519-own-kid": sign_identity(SigningKey(kid="rogue-key", private=own),
                                             Identity(user="mallory", namespaces=["*"], scopes=["admin"]),
                                             node_audience(victim)),
    }
    captured = rogue.tool_tokens[0]
    head, _, signature = captured.split(".")
    forged["captured-with-new-audience"] = f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
    return forged


def _jwk_x(rogue: Rogue, kid: str) -> str:
    jwks = rogue.keys._keys  # the public keys the rogue learnt at registration
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return _b64(jwks[kid].public_bytes(Encoding.Raw, PublicFormat.Raw))


async def run_rogue(rogue: Rogue, gateway_url: str, token: str, tools: list[dict[str, Any]],
                    registered: asyncio.Event, stop: asyncio.Event) -> None:
    """Serve the rogue and keep it registered (namespaces: mallory) until ``stop``."""
    async with serve_http(rogue_app(rogue)) as port:
        rogue.url = f"http://127.0.0.1:{port}/mcp"
        info = NodeInfo(name="rogue", url=rogue.url, namespaces=["mallory"], tools=tools)
        async with NodeRegistration(gateway_url, token, info, 0.3, keys=rogue.keys,
                                    status=lambda: NodeStatus(namespaces=["mallory"])) as registration:
            await registration.wait_registered(10)
            registered.set()
            await stop.wait()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[RunningGateway, str, Rogue, str]]:
    """A gateway, the real node bnl-1 (alice's namespace) and the rogue (mallory's), both registered."""
    built = build_gateway(gateway_settings(tmp_path / "gw"))
    async with running(built) as gateway:
        bnl_token = await gateway.token("bnl-1", ["alice"], scopes=["node"])
        urls: dict[str, str] = {}
        settings = node_settings(tmp_path / "bnl-1", name="bnl-1", gateway=gateway.url, gateway_token=bnl_token,
                                 identity_jwks=None, register_interval_s=0.3)
        node = asyncio.create_task(serve_node(settings, started=lambda url: urls.__setitem__("bnl-1", url)))
        try:
            await until(lambda: "bnl-1" in gateway.gateway.registry.nodes)
            rogue = Rogue()
            rogue_token = await gateway.token("rogue", ["mallory"], scopes=["node"])
            registered, stop = asyncio.Event(), asyncio.Event()
            tools = gateway.gateway.registry.nodes["bnl-1"].info.tools
            rogue_task = asyncio.create_task(run_rogue(rogue, gateway.url, rogue_token, tools, registered, stop))
            try:
                await asyncio.wait_for(registered.wait(), 15)
                yield gateway, urls["bnl-1"], rogue, rogue_token
            finally:
                stop.set()
                await asyncio.gather(rogue_task, return_exceptions=True)
        finally:
            node.cancel()
            await asyncio.gather(node, return_exceptions=True)


async def test_a_rogue_node_cannot_replay_or_forge_identities(world: tuple[RunningGateway, str, Rogue, str]) -> None:
    gateway, bnl_url, rogue, rogue_token = world
    registry = gateway.gateway.registry
    bnl_origin = bnl_url.removesuffix("/mcp")
    alice = await gateway.token("alice", ["alice"])
    mallory = await gateway.token("mallory", ["mallory"])
    admin = await gateway.token("admin", ["*"], scopes=["read", "operate", "author", "admin"])

    # alice's testbed lands on bnl-1: the rogue's token does not let it hold namespace alice
    async with Client(gateway.mcp_url, auth=alice, timeout=60) as client:
        started = await client.call_tool("start_testbed", {"namespace": "alice"})
        assert started.meta["controlroom/route"]["node"] == "bnl-1"
    async with Client(bnl_url, auth=TOKEN, timeout=60) as direct:
        await wait_ready(direct, "alice")
        agents = (await direct.call_tool("list_agents", {"namespace": "alice"})).structured_content["items"]
        # a finished execution: what a replayed prune would delete
        execution = (await direct.call_tool("start_workflow", {"namespace": "alice", "parameters": {"stf_count": 1}})
                     ).structured_content["execution_id"]
        await direct.call_tool("wait_for_execution", {"execution_id": execution, "timeout_s": 60})
    agent = agents[0]["name"]

    # traffic the rogue sees: a lookup for alice's agent (it claims to own it), mallory's routed call,
    # and an admin who sends a call to the rogue on purpose
    gateway.gateway.router.owners.clear()
    async with Client(gateway.mcp_url, auth=alice, timeout=60) as client:
        located = await client.call_tool("get_agent", {"name": agent})
        assert located.meta["controlroom/route"] == {"node": "bnl-1", "reason": "entity"}  # the rogue's claim is ignored
        assert located.structured_content["name"] == agent
    async with Client(gateway.mcp_url, auth=mallory, timeout=60) as client:
        routed = await client.call_tool("get_testbed_status", {"namespace": "mallory"}, raise_on_error=False)
        assert routed.meta["controlroom/route"]["node"] == "rogue"
    async with Client(gateway.mcp_url, auth=admin, timeout=60) as client:
        await client.call_tool("list_namespaces", {"node": "rogue"}, raise_on_error=False)
    assert rogue.lookup_tokens and len(rogue.tool_tokens) >= 2

    captured = {f"lookup-{i}": t for i, t in enumerate(rogue.lookup_tokens)}
    captured |= {f"routed-{i}": t for i, t in enumerate(rogue.tool_tokens)}
    for name, token in captured.items():  # what the rogue holds: tokens for itself only, the caller's own grants
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["aud"] == "controlroom-node:rogue", name
        if name.startswith("lookup"):
            assert claims["scopes"] == ["lookup"] and claims["namespaces"] == [], claims
    routed_users = {jwt.decode(t, options={"verify_signature": False})["user"]: t for t in rogue.tool_tokens}
    assert jwt.decode(routed_users["mallory"], options={"verify_signature": False})["namespaces"] == ["mallory"]

    attempts = captured | forgeries(rogue, rogue_token, "bnl-1") | {"rogue-node-token": rogue_token}
    async with httpx2.AsyncClient(timeout=30) as http:
        for name, token in attempts.items():
            for tool, arguments in (("list_namespaces", {}), ("prune", {"older_than": datetime.now(UTC).isoformat()})):
                response = await post_tool(http, bnl_url, token, tool, arguments)
                assert response.status_code == 401, (name, tool, response.status_code, response.text[:200])
            owner = await http.get(f"{bnl_origin}/entities/agent/{agent}", headers={"Authorization": f"Bearer {token}"})
            assert owner.status_code == 401 and "namespace" not in owner.text, (name, owner.text)

        # the same requests with credentials the gateway made for bnl-1 work: the refusals above are the tokens'
        ring = KeyRing(gateway.gateway.settings.identity_keys_path(), gateway.gateway.settings.identity_ttl_s)
        lookup = sign_identity(ring.current(), lookup_identity(), node_audience("bnl-1"))
        owner = await http.get(f"{bnl_origin}/entities/agent/{agent}", headers={"Authorization": f"Bearer {lookup}"})
        assert owner.status_code == 200 and owner.json()["namespace"] == "alice"
        assert (await post_tool(http, bnl_url, lookup, "list_namespaces", {})).status_code == 401  # lookup only
        real_admin = sign_identity(ring.current(), Identity(user="admin", namespaces=["*"], scopes=["admin"]),
                                   node_audience("bnl-1"))
        listed = await post_tool(http, bnl_url, real_admin, "list_namespaces", {})
        assert listed.status_code == 200 and '"alice"' in listed.text

    # no replayed prune ran: the finished execution is still there, and the node token's own prune deletes it
    async with Client(bnl_url, auth=TOKEN, timeout=60) as direct:
        kept = await direct.call_tool("get_workflow_execution", {"execution_id": execution})
        assert kept.structured_content["execution_id"] == execution
        pruned = await direct.call_tool("prune", {"older_than": datetime.now(UTC).isoformat()})
        assert pruned.structured_content["deleted"]["executions"] == 1, pruned.structured_content

    # the rogue cannot claim other namespaces or take another node's name
    state = registry.nodes["rogue"]
    async with httpx2.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {rogue_token}"}) as http:
        claim = await http.post("/nodes/register", json={"name": "rogue", "url": rogue.url, "namespaces": ["mallory", "alice"]})
        assert claim.status_code == 403, claim.text
        assert "alice" in claim.json()["error"] and "--namespaces" in claim.json()["error"]
        beat = await http.post("/nodes/heartbeat", json={"name": "rogue", "namespaces": ["alice"]})
        assert beat.status_code == 403 and "alice" in beat.json()["error"]
        star = await http.post("/nodes/heartbeat", json={"name": "rogue", "namespaces": ["*"]})
        assert star.status_code == 403
        hijack = await http.post("/nodes/register", json={"name": "bnl-1", "url": rogue.url, "namespaces": ["alice"]})
        assert hijack.status_code == 403
    assert registry.nodes["rogue"] is state and state.namespaces == ["mallory"]
    assert registry.by_namespace["alice"] == ["bnl-1"] and registry.nodes["bnl-1"].info.url == bnl_url


async def test_keys_rotate_without_downtime(world: tuple[RunningGateway, str, Rogue, str]) -> None:
    """rotate_keys (controlroom gateway rotate-key) while bnl-1 serves: calls keep working, the old
    key is still published for tokens in flight, and nodes learn the new one without a restart."""
    gateway, bnl_url, _, _ = world
    settings = gateway.gateway.settings
    alice = await gateway.token("alice", ["alice"])
    before = KeyRing(settings.identity_keys_path(), settings.identity_ttl_s)
    old, upcoming = before.current().kid, [k["kid"] for k in before.jwks()["keys"]][1]
    async with httpx2.AsyncClient() as http:
        published = (await http.get(gateway.url + "/nodes/jwks")).json()
    assert [k["kid"] for k in published["keys"]] == [old, upcoming]  # the next key is published ahead of use
    assert all(set(k) == {"kty", "crv", "x", "kid", "alg", "use"} for k in published["keys"])  # public halves only

    async with Client(gateway.mcp_url, auth=alice, timeout=60) as client:
        await client.call_tool("start_testbed", {"namespace": "alice"})
        rotated = await anyio.to_thread.run_sync(lambda: subprocess.run(
            [str(Path(sys.executable).with_name("controlroom")), "gateway", "rotate-key", "--state-dir",
             str(settings.state_dir)], capture_output=True, text=True, timeout=120))
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert rotated.stdout.startswith(f"signing with {upcoming} (was {old}, published until its tokens expire)")
        staged = rotated.stdout.split("next key ")[1].split(";")[0].strip()
        await asyncio.sleep(1.2)  # the running gateway looks at its key file at most once a second
        status = await client.call_tool("get_testbed_status", {"namespace": "alice"})
        assert status.structured_content["namespace"] == "alice"
    async with httpx2.AsyncClient() as http:
        published = [k["kid"] for k in (await http.get(gateway.url + "/nodes/jwks")).json()["keys"]]
    assert published == [old, upcoming, staged]

    # two rotations back to back: the key that signs now was staged moments ago
    rotate_keys(settings.identity_keys_path(), settings.identity_ttl_s)
    rotate_keys(settings.identity_keys_path(), settings.identity_ttl_s)
    await asyncio.sleep(1.2)
    async with Client(gateway.mcp_url, auth=alice, timeout=60) as client:
        status = await client.call_tool("get_testbed_status", {"namespace": "alice"})
        assert not status.is_error and status.structured_content["namespace"] == "alice"

    # a leaked key: --drop-retired unpublishes it at once; bnl-1 refuses its tokens after a heartbeat
    leaked = KeyRing(settings.identity_keys_path(), settings.identity_ttl_s).current()
    token = sign_identity(leaked, Identity(user="alice", namespaces=["alice"], scopes=["read"]), node_audience("bnl-1"))
    async with httpx2.AsyncClient(timeout=30) as http:
        assert (await post_tool(http, bnl_url, token, "list_namespaces", {})).status_code == 200
        rotation = rotate_keys(settings.identity_keys_path(), settings.identity_ttl_s, drop_retired=True)
        assert leaked.kid in rotation.dropped
        deadline = time.monotonic() + 30
        while (await post_tool(http, bnl_url, token, "list_namespaces", {})).status_code != 401:
            assert time.monotonic() < deadline, "bnl-1 still accepts the dropped key"
            await asyncio.sleep(0.1)
        published = [k["kid"] for k in (await http.get(gateway.url + "/nodes/jwks")).json()["keys"]]
    assert published == [rotation.current, rotation.next]
    async with Client(gateway.mcp_url, auth=alice, timeout=60) as client:  # and routed calls go on
        status = await client.call_tool("get_testbed_status", {"namespace": "alice"})
        assert status.structured_content["namespace"] == "alice"


async def test_an_unknown_kid_fetches_the_jwks_once_per_interval(world: tuple[RunningGateway, str, Rogue, str]) -> None:
    """A node that has not seen the signing key yet fetches the gateway's JWKS; forged kids cannot
    make it fetch more than once per ``min_refresh_s``."""
    gateway, _, _, _ = world
    fetches: list[float] = []

    async def fetch() -> dict[str, Any]:
        fetches.append(time.monotonic())
        async with httpx2.AsyncClient() as http:
            return (await http.get(gateway.url + "/nodes/jwks")).json()

    def forged(i: int) -> str:
        return sign_identity(SigningKey(kid=f"made-up-{i}", private=Ed25519PrivateKey.generate()),
                             Identity(user="mallory", namespaces=["*"]), node_audience("n1"))

    keys = IdentityKeys(fetch=fetch, min_refresh_s=60.0)
    for i in range(5):
        with pytest.raises(IdentityError, match="does not publish"):
            await keys.verify(forged(i), node_audience("n1"))
    assert len(fetches) == 1  # the first unknown kid fetched the JWKS; the next four waited for the interval
    ring = KeyRing(gateway.gateway.settings.identity_keys_path(), gateway.gateway.settings.identity_ttl_s)
    real = sign_identity(ring.current(), Identity(user="alice", namespaces=["alice"]), node_audience("n1"))
    assert (await keys.verify(real, node_audience("n1"))).user == "alice"  # learnt by that one fetch
    assert len(fetches) == 1

    unlimited = IdentityKeys(fetch=fetch, min_refresh_s=0.0)
    for i in range(3):
        with pytest.raises(IdentityError):
            await unlimited.verify(forged(i), node_audience("n1"))
    assert len(fetches) == 4  # without the interval every forged kid would cost the gateway a fetch
