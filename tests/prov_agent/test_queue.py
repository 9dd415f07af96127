"""The writer's bounded queue: a full queue slows producers down while the store keeps up, and
only a store that makes no room loses records, counted and noted in the stream; captured gateway
calls are built (redacted) in the writer, exactly as the statements built as dicts would be."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from prov_agent.chain import compact
from prov_agent.errors import InvalidProvInput
from prov_agent.gateway_calls import GatewayCalls
from prov_agent.model import AIAgent, Person
from prov_agent.recorder import Recorder, _el, _rel, attr_json
from prov_agent.redaction import Redactor
from prov_agent.store import ProvStore
from prov_agent.writer import ProvWriter, _roles

NOTE: dict[str, Any] = {"elements": [], "relations": []}


async def test_a_full_queue_waits_for_room_and_loses_nothing(sqlite_store: ProvStore) -> None:
    async with ProvWriter(sqlite_store, flush_interval=0.05, capacity=50, max_batch=20) as writer:
        rec = Recorder(writer, stream="gw")
        for i in range(600):
            if writer.full:
                assert await writer.wait_for_room()
            rec.gateway_call("alice", "claude-code", "1", "list_runs", {"i": i}, None, None, "ok", 0.001)
            assert writer.pending <= 50
    assert writer.dropped == 0
    assert await sqlite_store.count(stream="gw") == 600
    assert (await sqlite_store.verify()).ok


async def test_a_writer_that_makes_no_room_loses_counted_records_and_says_so(sqlite_store: ProvStore) -> None:
    writer = ProvWriter(sqlite_store, flush_interval=60, capacity=5, block_s=0.1)  # not started: nothing flushes
    for i in range(5):
        writer.append("s", "note", {**NOTE, "event": str(i)})
    assert writer.full and not await writer.wait_for_room()
    for i in range(5, 8):
        writer.append("s", "note", {**NOTE, "event": str(i)})  # no room: dropped and counted
    assert writer.dropped == 3 and writer.pending == 5
    await writer.start()
    await writer.flush()
    writer.append("s", "note", {**NOTE, "event": "8"})  # room again: the gap is noted before it
    await writer.close()
    events = [json.loads(r.body)["event"] for r in sorted(await sqlite_store.records(stream="s"), key=lambda r: r.seq)]
    assert events[:5] == ["0", "1", "2", "3", "4"] and events[-1] == "8"
    assert len(events) == 7 and events[5].startswith("records_dropped: 3 records of this stream were not recorded")
    assert (await sqlite_store.verify()).ok


async def test_another_thread_blocks_until_there_is_room(sqlite_store: ProvStore) -> None:
    async with ProvWriter(sqlite_store, flush_interval=0.05, capacity=10, max_batch=10, block_s=30) as writer:

        def produce() -> None:
            for i in range(300):
                writer.append("t", "note", {**NOTE, "event": str(i)})

        thread = threading.Thread(target=produce)
        thread.start()
        while thread.is_alive():
            assert writer.pending <= 10
            await asyncio.sleep(0.005)
        thread.join()
    assert writer.dropped == 0
    rows = sorted(await sqlite_store.records(stream="t"), key=lambda r: r.seq)
    assert [json.loads(r.body)["event"] for r in rows] == [str(i) for i in range(300)]


def test_queue_settings_are_checked(sqlite_store: ProvStore) -> None:
    for field, kwargs in (("capacity", {"capacity": 0}), ("block_s", {"block_s": -1}), ("max_batch", {"max_batch": 0})):
        with pytest.raises(InvalidProvInput, match=field):
            ProvWriter(sqlite_store, **kwargs)


def _eager(stream: str, epoch: float, captured: tuple[Any, ...], declare: tuple[bool, bool]) -> dict[str, Any]:
    """The gateway call's statements built as dicts, as the recorder built them on the hot path."""
    ident, principal, name, version, tool, args, node, reason, outcome, duration_s, claimed = captured
    clean, args_digest = Redactor().arguments(args)
    attrs: dict[str, Any] = {"tool": tool, "arguments": attr_json(clean), "arguments_sha256": args_digest,
                             "outcome": outcome, "duration_ms": round(duration_s * 1000.0, 3),
                             "client_claimed": claimed}
    if node is not None:
        attrs["node"] = node
    if reason is not None:
        attrs["node_reason"] = reason
    agent, person = AIAgent(name=name or "unknown-client", version=version), Person(user=principal)
    started = epoch - duration_s
    elements = [_el(ident, "AgentTool", attrs, started, started + duration_s)]
    if declare[0]:
        elements.insert(0, _el(agent.element_id(), "AIAgent", agent.attributes()))
    if declare[1]:
        elements.append(_el(person.element_id(), "Person", person.attributes()))
    relations = [_rel("wasAssociatedWith", ident, agent.element_id()),
                 _rel("actedOnBehalfOf", agent.element_id(), person.element_id())]
    return {"elements": elements, "relations": relations}


def test_gateway_calls_are_built_as_the_statements_would_be() -> None:
    build = GatewayCalls(Redactor()).build
    cases = [
        (("controlroom:call/a", "alice", "claude-code", "2.1", "list_runs",
          {"namespace": "alice", "limit": 50, "api_key": "sk-abcdefghijklmnopqrstu",
           "nested": {"b": [1, 2.5, None], "a": "Bearer abcdefghijkl"}}, "node-1", "namespace", "ok", 0.0123, True),
         (True, True)),
        (("controlroom:call/b", "alice", "claude-code", "2.1", "get_run", None, None, None, "is_error", 1e-7, False),
         (False, False)),
        (("controlroom:call/c", "Zoë O'Brien", "", None, 'a "tool"\n', {"x": "é\n"}, "n", None, "ok", 3.0, True),
         (True, True)),
        (("controlroom:call/d", "alice", "claude-code", "2.2", "t", {}, None, "r", "ok", 0, True), (True, False)),
        # the same fixed values again, but a claim of 1 (equal to True as a dict key, not as text)
        (("controlroom:call/e", "alice", "claude-code", "2.2", "t", {}, None, "r", "ok", 0, 1), (False, False)),
    ]
    for captured, declare in cases:
        text, roles = build("gw", 1764490000.123456, captured)
        expected = _eager("gw", 1764490000.123456, captured, declare)
        assert text == compact(expected)
        assert roles == _roles(expected)
        assert "sk-abc" not in text and "Bearer abc" not in text


async def test_a_captured_record_that_cannot_be_built_is_a_note_without_its_payload(sqlite_store: ProvStore) -> None:
    async with ProvWriter(sqlite_store, flush_interval=60) as writer:
        rec = Recorder(writer, stream="gw")
        rec.gateway_call("", "claude-code", None, "t", {"password": "hunter2"}, None, None, "ok", 0.1)  # no user
        rec.gateway_call("alice", "claude-code", None, "t", {}, None, None, "ok", 0.1)
    first, second = sorted(await sqlite_store.records(stream="gw"), key=lambda r: r.seq)
    assert json.loads(first.body)["unserialisable"] == "the gateway_call record could not be built: InvalidProvInput"
    assert "hunter2" not in first.body and json.loads(second.body)["elements"]
    assert (await sqlite_store.verify()).ok
