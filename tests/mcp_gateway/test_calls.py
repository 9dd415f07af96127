"""Call handling: one CallRecord per call whatever the outcome; limits and timeouts as isError."""

from __future__ import annotations

import httpx2
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_gateway.models import CallRecord
from mcp_gateway.server import build_gateway
from tests.mcp_gateway.conftest import gateway_settings, running


class Collect:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    async def on_call(self, record: CallRecord) -> None:
        self.records.append(record)


async def test_each_outcome_is_recorded_once(tmp_path, spawn_in) -> None:
    observer = Collect()
    built = build_gateway(gateway_settings(tmp_path, rate_per_s=0.001, rate_burst=6, call_timeout_s=5.0,
                                           max_output_bytes=2000), observers=[observer])
    async with running(built) as gateway:
        await spawn_in(gateway, "n1", ["a"])
        token = await gateway.token("alice", ["a"])
        async with Client(StreamableHttpTransport(gateway.mcp_url, auth=token)) as c:
            ok = await c.call_tool("noop", {})
            denied = await c.call_tool("start_testbed", {"namespace": "b"}, raise_on_error=False)
            # a failure the node reports (an unknown execution id is refused by the gateway itself)
            failed = await c.call_tool("start_workflow", {"namespace": "a"}, raise_on_error=False)
            # 5 s for every call (a loaded machine answers a noop slowly), a sleep far beyond it
            slow = await c.call_tool("sleep_for", {"seconds": 60}, raise_on_error=False)
            big = await c.call_tool("big_output", {"size": 5000}, raise_on_error=False)
            await c.call_tool("noop", {})
            limited = await c.call_tool("noop", {}, raise_on_error=False)
            own = await c.call_tool("list_nodes", {})
    assert not ok.is_error and not own.is_error
    assert denied.is_error and "not granted" in denied.content[0].text
    assert failed.is_error and "workflow" in failed.content[0].text
    assert slow.is_error and "did not answer within 5 s" in slow.content[0].text
    assert big.is_error and "output limit of 2000 bytes" in big.content[0].text
    assert limited.is_error and "rate limit" in limited.content[0].text
    outcomes = [(r.tool, r.outcome) for r in observer.records]
    assert outcomes == [("noop", "ok"), ("start_testbed", "denied"), ("start_workflow", "is_error"),
                        ("sleep_for", "timeout"), ("big_output", "is_error"), ("noop", "ok"),
                        ("noop", "rate_limited")]
    first = observer.records[0]
    assert (first.user, first.node, first.reason, first.era) == ("alice", "n1", "namespace", "2026-07-28")
    assert len({r.call_id for r in observer.records}) == len(observer.records)
    # time-ordered (UUIDv7 layout): the provenance mentions index takes each call at its end
    assert [r.call_id[:12] for r in observer.records] == sorted(r.call_id[:12] for r in observer.records)
    assert {r.call_id[12] for r in observer.records} == {"7"}


async def test_node_json_rpc_errors_become_is_error_results(gateway, spawn) -> None:
    await spawn("n1", ["a"])
    token = await gateway.token("alice", ["a"])
    async with Client(StreamableHttpTransport(gateway.mcp_url, auth=token)) as c:
        bad = await c.call_tool("start_workflow", {"namespace": "a"}, raise_on_error=False)
    assert bad.is_error and "workflow" in bad.content[0].text


async def test_registry_survives_a_gateway_restart(tmp_path, spawn_in) -> None:
    settings = gateway_settings(tmp_path / "gw", lease_s=30)
    async with running(build_gateway(settings)) as gateway:
        await spawn_in(gateway, "n1", ["a"])
        token = await gateway.token("alice", ["a"])
    async with running(build_gateway(settings.model_copy(update={"port": 0}))) as again:
        assert again.gateway.registry.nodes["n1"].namespaces == ["a"]
        async with Client(StreamableHttpTransport(again.mcp_url, auth=token)) as c:
            result = await c.call_tool("noop", {})
        assert result.meta["controlroom/route"]["node"] == "n1"
        async with httpx2.AsyncClient() as http:
            assert (await http.get(again.url + "/healthz")).status_code == 200
