"""One tenant cannot hurt another at the transport edge: each test is an attack by mallory, and
asserts both the refusal and that alice's calls are unaffected.

Real gateway, real sample node in a child process, raw HTTP where the attack needs bytes a
client library would not send.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_gateway.server import build_gateway
from tests.mcp_gateway.conftest import (  # noqa: F401  (fixtures)
    NodeProcess, RunningGateway, gateway, gateway_settings, running, spawn, spawn_in)

HANDSHAKE_ERA = "2025-11-25"
MODERN_ERA = "2026-07-28"


def headers(token: str, tool: str | None = None, **extra: str) -> dict[str, str]:
    """A stateless-era request's headers (``tool``: the Mcp-Method/Mcp-Name of a tools/call)."""
    names = {"mcp-method": "tools/call", "mcp-name": tool} if tool else {}
    return {"authorization": f"Bearer {token}", "content-type": "application/json",
            "accept": "application/json, text/event-stream", "mcp-protocol-version": MODERN_ERA, **names, **extra}


ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN_ERA, "io.modelcontextprotocol/clientCapabilities": {}}


def call(name: str, arguments: Any, request_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": ENVELOPE}}


def _request_head(gateway: RunningGateway, token: str, length: int | None) -> bytes:
    host, port = gateway.url.removeprefix("http://").split(":")
    framing = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    return (f"POST /mcp HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {token}\r\n"
            f"content-type: application/json\r\naccept: application/json, text/event-stream\r\n"
            f"mcp-protocol-version: {MODERN_ERA}\r\n{framing}\r\n\r\n").encode()


async def _read_answer(stream: anyio.abc.ByteStream) -> tuple[int, bytes]:
    """Read one HTTP/1.1 answer with a content-length: (status, body)."""
    answer = b""
    with anyio.fail_after(20):
        while True:
            head, _, rest = answer.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if length is not None and len(rest) >= length:
                return int(head.split()[1]), rest[:length]
            answer += await stream.receive()


async def raw_post(gateway: RunningGateway, token: str, body: bytes, send_at_most: int = 1 << 20) -> tuple[int, bytes]:
    """POST over a bare socket declaring ``len(body)``, sending at most ``send_at_most`` of it, then read the
    answer: how an attacker streams a huge body (a client library would fail writing, not read the 413)."""
    host, port = gateway.url.removeprefix("http://").split(":")
    async with await anyio.connect_tcp(host, int(port)) as stream:
        await stream.send(_request_head(gateway, token, len(body)))
        await stream.send(body[:send_at_most])
        return await _read_answer(stream)


def rpc_answer(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of an answer (JSON, or the last SSE event)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(events[-1])
    return response.json()


async def alice_is_served(gateway: RunningGateway, alice: str) -> None:
    """alice's call on her namespace succeeds, through the node mallory attacked."""
    async with Client(StreamableHttpTransport(gateway.mcp_url, auth=alice)) as c:
        status = await c.call_tool("get_testbed_status", {"namespace": "a"}, raise_on_error=False)
        me = await c.call_tool("whoami", {})
    assert not status.is_error, status.content
    assert status.structured_content["namespace"] == "a"
    assert status.meta["controlroom/route"]["node"] == "n1"
    assert not me.is_error


async def tenants(gateway: RunningGateway) -> tuple[str, str]:
    return await gateway.token("alice", ["a"]), await gateway.token("mallory", ["m"])


# --- finding 4: a caller's 4xx must not open the node's breaker for everyone ----------------------

async def test_callers_malformed_calls_do_not_open_the_nodes_breaker(gateway, spawn) -> None:
    await spawn("n1", ["a", "m"])
    alice, mallory = await tenants(gateway)
    async with httpx2.AsyncClient(timeout=30) as http:
        for attempt in range(3):
            # the node itself refuses these (HTTP 4xx): an Accept or a content-type it cannot serve, a
            # stateless-era call without its _meta envelope
            refused = await http.post(gateway.mcp_url, json=call("noop", {}, attempt),
                                      headers=headers(mallory, "noop", accept="text/plain"))
            assert refused.status_code == 200
            assert rpc_answer(refused)["result"]["isError"] is True
            assert "refused the request (HTTP 406)" in rpc_answer(refused)["result"]["content"][0]["text"]
            typed = await http.post(gateway.mcp_url, content=json.dumps(call("noop", {}, 10 + attempt)),
                                    headers=headers(mallory, "noop", **{"content-type": "text/plain"}))
            assert "refused the request (HTTP 400): Invalid Content-Type" in rpc_answer(typed)["result"]["content"][0]["text"]
            bare = {"jsonrpc": "2.0", "id": 20 + attempt, "method": "tools/call", "params": {"name": "noop"}}
            no_meta = await http.post(gateway.mcp_url, json=bare, headers=headers(mallory, "noop"))
            assert "refused the request (HTTP 400)" in rpc_answer(no_meta)["result"]["content"][0]["text"]
            # the attacker's original body: refused by the gateway before any node sees it
            listed = await http.post(gateway.mcp_url, json=call("noop", [], 30 + attempt), headers=headers(mallory))
            assert (listed.status_code, listed.json()["error"]["code"]) == (400, -32602)
            # an answer over the output limit is what the caller asked for, not the node's failure
            big = await http.post(gateway.mcp_url, json=call("big_output", {"size": 2 << 20}, 40 + attempt),
                                  headers=headers(mallory, "big_output"))
            assert "output limit" in rpc_answer(big)["result"]["content"][0]["text"]
            ten_mb = json.dumps(call("start_testbed", {"namespace": "m", "config": "x" * (10 << 20)})).encode()
            assert (await raw_post(gateway, mallory, ten_mb))[0] == 413
    breaker = gateway.gateway.router.breakers["n1"]
    assert (breaker.state, breaker.failures) == ("closed", 0)
    await alice_is_served(gateway, alice)


# --- finding 6: a body limit, checked before the body is read -----------------------------------

async def test_a_declared_huge_body_is_refused_before_it_is_sent(gateway, spawn) -> None:
    """mallory declares 200 MB and sends 1 MB: the 413 arrives without the rest being read."""
    await spawn("n1", ["a", "m"])
    alice, mallory = await tenants(gateway)
    huge = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"noop","arguments":{"x":"' + b"x" * (200 << 20)
    status, body = await raw_post(gateway, mallory, huge, send_at_most=1 << 20)
    assert status == 413
    error = json.loads(body)["error"]
    assert error["code"] == -32600 and "limit is 4194304 bytes" in error["message"]
    await alice_is_served(gateway, alice)


async def test_a_streamed_body_stops_being_read_at_the_limit(tmp_path, spawn_in) -> None:
    """No content-length (chunked): bytes are counted as they arrive, and an upload left pending
    holds up nobody else. The limit is a setting (64 KiB here)."""
    async with running(build_gateway(gateway_settings(tmp_path / "gw", max_body_bytes=64 << 10))) as gateway:
        await spawn_in(gateway, "n1", ["a", "m"])
        alice, mallory = await tenants(gateway)
        host, port = gateway.url.removeprefix("http://").split(":")
        sent = 0
        answer: list[tuple[int, bytes]] = []
        async with await anyio.connect_tcp(host, int(port)) as stream:

            async def chunk(data: bytes) -> None:
                nonlocal sent
                await stream.send(b"%x\r\n" % len(data) + data + b"\r\n")
                sent += len(data)

            await stream.send(_request_head(gateway, mallory, None))
            await chunk(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"noop","arguments":{"x":"'
                        + b"x" * (32 << 10))
            await alice_is_served(gateway, alice)  # while mallory's body is half sent

            async def write() -> None:
                try:
                    for _ in range(4096):  # up to 64 MiB more
                        await chunk(b"x" * (16 << 10))
                except (anyio.BrokenResourceError, OSError):
                    pass  # the gateway closed the connection after its 413
                await anyio.sleep_forever()

            async with anyio.create_task_group() as group:
                group.start_soon(write)
                answer.append(await _read_answer(stream))
                group.cancel_scope.cancel()
        async with httpx2.AsyncClient(timeout=30) as http:
            small = await http.post(gateway.mcp_url, json=call("start_testbed", {"namespace": "m", "config": "y" * 1000}),
                                    headers=headers(mallory, "start_testbed"))
        status, body = answer[0]
        assert status == 413 and "limit is 65536 bytes" in json.loads(body)["error"]["message"]
        assert sent < 64 << 20  # the gateway stopped reading long before the end
        assert rpc_answer(small)["result"]["isError"] is False  # under the limit: served
        await alice_is_served(gateway, alice)


async def test_nesting_and_container_count_are_bounded_before_parsing(gateway, spawn) -> None:
    await spawn("n1", ["a", "m"])
    alice, mallory = await tenants(gateway)
    async with httpx2.AsyncClient(timeout=30) as http:
        for depth in (65, 5_000, 500_000):
            nested = b"[" * depth + b"]" * depth
            body = (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"noop","arguments":{"x":'
                    + nested + b"}}}")
            response = await http.post(gateway.mcp_url, content=body, headers=headers(mallory))
            assert response.status_code == 400
            assert response.json()["error"]["code"] == -32600
            message = response.json()["error"]["message"]
            assert ("deeper than 64 levels" if depth < 100_000 else "more than 100000") in message
        # wide instead of deep: each object or array costs the parser an allocation, so they are counted
        wide = await http.post(gateway.mcp_url, json=call("start_testbed", {"namespace": "m", "rows": [[]] * 200_000}),
                               headers=headers(mallory, "start_testbed"))
        assert wide.status_code == 400 and "more than 100000" in wide.json()["error"]["message"]
        # brackets inside strings are text, not nesting
        text = await http.post(gateway.mcp_url, json=call("start_testbed", {"namespace": "m", "config": "[" * 1000}),
                               headers=headers(mallory, "start_testbed"))
        assert rpc_answer(text)["result"]["isError"] is False, rpc_answer(text)
    await alice_is_served(gateway, alice)


# --- finding 11: every malformed envelope gets a JSON-RPC error, never HTTP 500 ------------------

def _nested(depth: int) -> bytes:
    return (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"noop","arguments":{"x":'
            + b"[" * depth + b"]" * depth + b"}}}")


MALFORMED: dict[str, tuple[bytes, int, int]] = {  # body, HTTP status, JSON-RPC code
    "nested 5,000 deep": (_nested(5_000), 400, -32600),
    "params is a list": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["noop",{}]}', 400, -32602),
    "params is a list (not tools/call)": (b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[]}', 400, -32602),
    "id is an object": (b'{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"noop"}}', 400, -32600),
    "NUL in the id": (b'{"jsonrpc":"2.0","id":"a\\u0000b","method":"tools/call","params":{"name":"noop"}}', 400, -32600),
    "lone surrogate in the id": (b'{"jsonrpc":"2.0","id":"\\ud800","method":"tools/call","params":{"name":"noop"}}',
                                 400, -32700),
    "10 MB id": (b'{"jsonrpc":"2.0","id":"' + b"i" * (10 << 20) + b'","method":"tools/call"}', 413, -32600),
    "1,000-character id": (b'{"jsonrpc":"2.0","id":"' + b"i" * 1000 + b'","method":"tools/call"}', 400, -32600),
    "arguments is a list": (json.dumps(call("noop", [])).encode(), 400, -32602),
    "name is a number": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}', 400, -32602),
    "cancelling an object": (b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{}}}',
                             400, -32602),
    "not JSON": (b'{"jsonrpc":"2.0",', 400, -32700),
    "invalid UTF-8": (b'{"jsonrpc":"2.0","id":1,"method":"\xff"}', 400, -32700),
    "a batch": (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', 400, -32600),
    "jsonrpc missing": (b'{"id":1,"method":"ping"}', 400, -32600),
    "id is a huge integer": (b'{"jsonrpc":"2.0","id":' + b"9" * 30 + b',"method":"ping"}', 400, -32600),
}


async def test_malformed_envelopes_get_json_rpc_errors(gateway, spawn) -> None:
    await spawn("n1", ["a", "m"])
    alice, mallory = await tenants(gateway)
    seen: dict[str, tuple[int, int]] = {}
    for label, (body, _, _) in MALFORMED.items():
        status, raw = await raw_post(gateway, mallory, body)
        answer = json.loads(raw)
        assert answer["jsonrpc"] == "2.0" and "result" not in answer, label
        seen[label] = (status, answer["error"]["code"])
    assert seen == {label: (status, code) for label, (_, status, code) in MALFORMED.items()}
    await alice_is_served(gateway, alice)


# --- finding 7: a cancellation reaches only its sender's own requests ------------------------------

async def _initialize(http: httpx2.AsyncClient, url: str, token: str) -> str:
    response = await http.post(url, headers=headers(token, **{"mcp-protocol-version": HANDSHAKE_ERA}), json={
        "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": HANDSHAKE_ERA, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
    assert response.status_code == 200
    session = response.headers["mcp-session-id"]
    await http.post(url, headers=headers(token, **{"mcp-protocol-version": HANDSHAKE_ERA, "mcp-session-id": session}),
                    json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return session


async def _in_flight(node: NodeProcess, tool: str, count: int) -> None:
    async with httpx2.AsyncClient() as http:
        with anyio.fail_after(20):
            while sum(c["tool"] == tool for c in (await http.get(f"http://127.0.0.1:{node.port}/calls")).json()) < count:
                await anyio.sleep(0.02)


@pytest.mark.parametrize("era", [HANDSHAKE_ERA, MODERN_ERA])
async def test_a_tenant_cannot_cancel_anothers_call(gateway, spawn, era: str) -> None:
    node = await spawn("n1", ["a", "m"])
    alice, mallory = await tenants(gateway)
    answers: dict[int, dict[str, Any]] = {}
    async with httpx2.AsyncClient(timeout=30) as http:
        alice_session = await _initialize(http, gateway.mcp_url, alice) if era == HANDSHAKE_ERA else None
        mallory_session = await _initialize(http, gateway.mcp_url, mallory) if era == HANDSHAKE_ERA else None
        alice_headers = headers(alice, "sleep_for", **{"mcp-protocol-version": era},
                                **({"mcp-session-id": alice_session} if alice_session else {}))

        async def alice_calls(request_id: int) -> None:
            response = await http.post(gateway.mcp_url, json=call("sleep_for", {"seconds": 1.5}, request_id),
                                       headers=alice_headers)
            answers[request_id] = {"status": response.status_code, "body": response.text}

        def cancel(request_id: int) -> dict[str, Any]:
            return {"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": request_id, "reason": "mallory"}}

        async with anyio.create_task_group() as group:
            group.start_soon(alice_calls, 7)
            await _in_flight(node, "sleep_for", 1)
            # mallory names alice's session (or, in the stateless era, alice's user name where the
            # old key used it), alice's request id, and her own session
            forged = await http.post(gateway.mcp_url, json=cancel(7), headers=headers(
                mallory, **{"mcp-protocol-version": era, "mcp-session-id": alice_session or "alice"}))
            own = await http.post(gateway.mcp_url, json=cancel(7), headers=headers(
                mallory, **{"mcp-protocol-version": era},
                **({"mcp-session-id": mallory_session} if mallory_session else {})))
        assert forged.status_code == 404 and forged.json()["error"]["code"] == -32600
        assert own.status_code in (200, 202)
        assert answers[7]["status"] == 200
        assert json.loads(answers[7]["body"].split("data: ")[-1] if "data: " in answers[7]["body"]
                          else answers[7]["body"])["result"]["structuredContent"] == {"slept": 1.5}

        # the control: alice's own cancellation does cancel her call (so the check above could fail)
        async with anyio.create_task_group() as group:
            group.start_soon(alice_calls, 8)
            await _in_flight(node, "sleep_for", 2)
            mine = await http.post(gateway.mcp_url, json=cancel(8), headers=alice_headers)
        assert mine.status_code == 202
        assert "slept" not in answers[8]["body"]


async def test_a_tenant_cannot_use_anothers_session(gateway, spawn) -> None:
    """GET (the server-to-client stream), DELETE (end the session) and POST with alice's session id."""
    await spawn("n1", ["a", "m"])
    alice, mallory = await tenants(gateway)
    async with httpx2.AsyncClient(timeout=30) as http:
        session = await _initialize(http, gateway.mcp_url, alice)
        stolen = headers(mallory, **{"mcp-protocol-version": HANDSHAKE_ERA, "mcp-session-id": session})
        for method in ("GET", "DELETE"):
            response = await http.request(method, gateway.mcp_url, headers=stolen)
            assert response.status_code == 404, method
        posted = await http.post(gateway.mcp_url, json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
                                 headers=stolen)
        assert posted.status_code == 404
        # alice's session still works
        listed = await http.post(gateway.mcp_url, json={"jsonrpc": "2.0", "id": 4, "method": "tools/list"},
                                 headers=headers(alice, **{"mcp-protocol-version": HANDSHAKE_ERA,
                                                           "mcp-session-id": session}))
        assert listed.status_code == 200 and "noop" in listed.text
    await alice_is_served(gateway, alice)


# --- finding 10: Origin and Host (DNS rebinding) -------------------------------------------------

async def test_foreign_origin_and_host_are_refused(gateway, spawn) -> None:
    node = await spawn("n1", ["a", "m"])
    alice, _ = await tenants(gateway)
    port = gateway.url.rsplit(":", 1)[1]
    whoami = call("whoami", {})
    start = call("start_testbed", {"namespace": "a", "config": "from-evil"})
    async with httpx2.AsyncClient(timeout=30) as http:
        async def post(body: dict[str, Any], **extra: str) -> httpx2.Response:
            return await http.post(gateway.mcp_url, json=body, headers=headers(alice, body["params"]["name"], **extra))

        # a page on evil.example.com, in alice's browser, rebinding its name to 127.0.0.1
        evil_origin = await post(start, origin="http://evil.example.com")
        evil_host = await post(start, host=f"evil.example.com:{port}", origin=f"http://evil.example.com:{port}")
        null_origin = await post(start, origin="null")
        assert (evil_origin.status_code, evil_host.status_code, null_origin.status_code) == (403, 421, 403)
        # loopback origins, same-origin and no Origin at all (a non-browser client) pass
        for origin in (f"http://127.0.0.1:{port}", "http://localhost:3000", "https://localhost", "http://[::1]:9"):
            assert (await post(whoami, origin=origin)).status_code == 200, origin
        assert (await post(whoami, host=f"localhost:{port}")).status_code == 200
        assert (await post(whoami)).status_code == 200
    # the refused start_testbed never reached the node
    async with httpx2.AsyncClient() as http:
        seen = (await http.get(f"http://127.0.0.1:{node.port}/calls")).json()
    assert not [c for c in seen if c["tool"] == "start_testbed"]


async def test_allowed_hosts_and_origins_are_settings(tmp_path) -> None:
    settings = gateway_settings(tmp_path / "gw", allowed_hosts=["gw.example.org"],
                                allowed_origins=["https://ui.example.org"])
    async with running(build_gateway(settings)) as gateway:
        alice = await gateway.token("alice", ["a"])
        async with httpx2.AsyncClient(timeout=30) as http:
            async def status(**extra: str) -> int:
                return (await http.post(gateway.mcp_url, json=call("whoami", {}),
                                        headers=headers(alice, "whoami", **extra))).status_code

            assert await status(host="gw.example.org") == 200
            assert await status(origin="https://ui.example.org") == 200
            assert await status(host="other.example.org") == 421
            assert await status(origin="https://ui.example.org.evil.example.com") == 403
            assert await status(origin="http://ui.example.org") == 403  # the scheme is part of an origin


async def test_the_nodes_endpoint_refuses_a_foreign_origin_too(tmp_path) -> None:
    """A node serves MCP over HTTP as well (direct callers): the same DNS-rebinding rule holds there."""
    from mcp_nodes.serve import serve_node
    from tests.mcp_nodes.conftest import TOKEN, node_settings

    urls: list[str] = []
    started = anyio.Event()

    def on_start(url: str) -> None:
        urls.append(url)
        started.set()

    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": HANDSHAKE_ERA, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: serve_node(node_settings(tmp_path / "node"), started=on_start))
        with anyio.fail_after(60):
            await started.wait()
        port = urls[0].split(":")[2].split("/")[0]
        node_headers = {**headers(TOKEN), "mcp-protocol-version": HANDSHAKE_ERA}
        async with httpx2.AsyncClient(timeout=30) as http:
            evil_origin = await http.post(urls[0], json=initialize, headers={**node_headers, "origin": "http://evil.example.com"})
            evil_host = await http.post(urls[0], json=initialize, headers={**node_headers, "host": f"evil.example.com:{port}"})
            fine = await http.post(urls[0], json=initialize, headers={**node_headers, "origin": f"http://127.0.0.1:{port}"})
        group.cancel_scope.cancel()
    assert (evil_origin.status_code, evil_host.status_code, fine.status_code) == (403, 421, 200)
