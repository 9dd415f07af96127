"""The streamed export: what `prov` reads back from it equals the document of what was recorded,
it is written in pieces (never as one text), and the CLI writes it to a file."""

from __future__ import annotations

import asyncio
import gc
import io
import json
from pathlib import Path

import prov
import pytest

from prov_agent import ids
from prov_agent.cli import app
from prov_agent.errors import ExportError
from prov_agent.export import Statements, export_document, export_text, stream_export, to_document
from prov_agent.model import AIAgent, Person
from prov_agent import provtext
from prov_agent.provtext import check
from prov_agent.queries import Scope
from prov_agent.recorder import Recorder
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter
from tests.prov_agent.conftest import record_scenario


async def _streamed(store: ProvStore, scope: Scope, fmt: str) -> tuple[str, list[str]]:
    pieces: list[str] = []
    await stream_export(store, scope, fmt, pieces.append)
    return "".join(pieces), pieces


async def _odd_values(store: ProvStore) -> None:
    """Values every encoder must get right: ints, floats, bools, quotes, newlines, non-ASCII,
    ids that PROV-N must escape, an agent declared twice with different attributes."""
    async with ProvWriter(store, flush_interval=60) as writer:
        rec = Recorder(writer, stream="odd")
        rec.declare(AIAgent(name="claude code", version="1"), on_behalf_of=Person(user="Zoë O'Brien"))
        rec.declare(AIAgent(name="claude code", version="2"))
        with rec.tool_call(AIAgent(name="claude code"), 'say "hi"\n(twice)', {"n": 2**40, "x": 1.5, "ok": True}):
            pass
        rec.workflow_event("file_created", execution="wf-a.b", run=7, file="a=b;c[d].", attrs={"size_bytes": 3,
                           "ratio": 0.25, "good": False, "note": "ünï\n\"q\""})


@pytest.mark.parametrize("fmt", ["json", "provn"])
async def test_streamed_export_reads_back_equal_to_what_was_recorded(
    sqlite_store: ProvStore, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provtext, "_PIECE", 50)  # statements per written piece
    s = await record_scenario(sqlite_store)
    await _odd_values(sqlite_store)
    await _gateway_calls(sqlite_store, 300)
    for scope in (Scope(), Scope.parse(f"execution:{s.execution}"), Scope.parse("principal:bob"),
                  Scope.parse("stream:odd"), Scope.parse("stream:gateway")):
        text, pieces = await _streamed(sqlite_store, scope, fmt)
        expected = await export_document(sqlite_store, scope)
        back = prov.read(io.StringIO(text), format=fmt)
        assert back == expected, scope
        assert len(back.get_records()) == len(expected.get_records())
    whole, pieces = await _streamed(sqlite_store, Scope(), fmt)
    assert len(pieces) > 10 and max(len(p) for p in pieces) < len(whole) / 4  # written piece by piece
    # the document of every stored record, built independently of the export's own merging
    rows = await sqlite_store.records()
    assert len(to_document(rows).get_records()) == len(prov.read(io.StringIO(whole), format=fmt).get_records())
    agent = prov.read(io.StringIO(whole), format=fmt).get_record(ids.agent_id("claude code"))
    assert len(agent) == 1 and "2" in str(agent[0].get_attribute(f"{ids.PREFIX}:version"))  # later wins


async def _gateway_calls(store: ProvStore, n: int) -> None:
    async with ProvWriter(store, flush_interval=60) as writer:
        rec = Recorder(writer, stream="gateway")
        for i in range(n):
            rec.gateway_call("carol", "claude-code", "2.1", "list_runs", {"limit": i}, "node-1", "namespace", "ok", 0.01)


async def test_export_text_is_the_streamed_text(sqlite_store: ProvStore) -> None:
    await record_scenario(sqlite_store)
    rows = await sqlite_store.records()
    for fmt in ("json", "provn"):
        text, _ = await _streamed(sqlite_store, Scope(), fmt)
        assert await export_text(sqlite_store, rows, fmt) == text
        if fmt == "json":
            assert isinstance(json.loads(text), dict)  # one valid JSON value


async def test_unknown_format_and_relation_are_refused(sqlite_store: ProvStore) -> None:
    with pytest.raises(ExportError, match="format 'ttl'"):
        await stream_export(sqlite_store, Scope(), "ttl", print)
    statements = Statements()
    statements.add({"elements": [], "relations": [{"rel": "wasQuotedFrom", "src": "a:b", "dst": "a:c"}]})
    with pytest.raises(ExportError, match="wasQuotedFrom"):
        check(statements)


def test_cli_export_streams_to_a_file(tmp_path: Path) -> None:
    async def setup() -> object:
        engine = engine_for(state_dir=tmp_path)
        store = ProvStore(engine)
        await store.create_schema()
        await record_scenario(store)
        doc = await export_document(store, Scope())
        await engine.dispose()
        return doc

    expected = asyncio.run(setup())
    for fmt in ("json", "provn"):
        out = tmp_path / f"all.{fmt}"
        assert app(["export", "--format", fmt, "-o", str(out), "--state-dir", str(tmp_path)],
                   result_action="return_value") == 0
        assert prov.read(str(out), format=fmt) == expected


async def test_a_large_export_keeps_its_statements_out_of_the_garbage_collector(sqlite_store: ProvStore) -> None:
    """What a streamed export holds (merged elements, their attributes, the bodies it reads) is
    untracked once a collection has seen it: tracked per-record objects made the full collections
    a large export triggers about a fifth of its CPU."""
    async with ProvWriter(sqlite_store, flush_interval=60) as writer:
        rec = Recorder(writer, stream="gw")
        for i in range(50):
            rec.gateway_call("alice", "claude-code", "1", "list_runs", {"limit": i}, "n1", "ns", "ok", 0.01)
    statements = Statements()
    bodies: list[str] = []
    async for part in sqlite_store.stream_bodies(stream="gw"):
        bodies.extend(part)
        for body in part:
            statements.add(json.loads(body))
    gc.collect()
    assert len(statements.elements) == 52 and all(type(b) is str for b in bodies)
    tracked = [v for v in (*statements.elements.values(), *statements.attrs.values()) if gc.is_tracked(v)]
    assert tracked == []
    assert all(type(i) is str for ids_ in provtext._by_kind(statements).values() for i in ids_)
