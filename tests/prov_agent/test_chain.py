"""The hash chain on SQLite and PostgreSQL: edits, deletions and insertions are found and named."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from sqlalchemy import text

from prov_agent.chain import GENESIS, record_hash
from prov_agent.store import ProvStore
from prov_agent.writer import ProvWriter

from .conftest import record_scenario


async def _row(store: ProvStore, stream: str, seq: int) -> dict:
    rows = await store.records(stream=stream)
    return asdict(next(r for r in rows if r.seq == seq))


async def test_untouched_store_verifies(any_store: ProvStore) -> None:
    await record_scenario(any_store)
    result = await any_store.verify()
    assert result.ok, result.problems
    assert result.streams == 2
    assert result.records == await any_store.count() == 9


async def test_schema_creation_is_idempotent(any_store: ProvStore) -> None:
    await record_scenario(any_store)
    await any_store.create_schema()
    assert await any_store.count() == 9


async def test_edited_payload_is_named(any_store: ProvStore) -> None:
    await record_scenario(any_store)
    victim = await _row(any_store, "session-alice", 3)
    body = json.loads(victim["body"])
    body["elements"][1]["attrs"]["tool"] = "stop_workflow"
    async with any_store.engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {any_store.records_table.name} SET body = :b WHERE record_id = :r"),
            {"b": json.dumps(body), "r": victim["record_id"]},
        )
    result = await any_store.verify()
    assert not result.ok
    [problem] = result.problems
    assert (problem.stream, problem.seq, problem.record_id) == ("session-alice", 3, victim["record_id"])
    assert "edited" in problem.problem


async def test_edit_with_recomputed_hash_is_caught_at_the_next_record(any_store: ProvStore) -> None:
    await record_scenario(any_store)
    victim = await _row(any_store, "node-1", 2)
    body = victim["body"].replace("100010", "100011")
    forged = record_hash(victim["record_id"], "node-1", 2, victim["kind"], victim["time"], body, victim["prev_hash"])
    async with any_store.engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {any_store.records_table.name} SET body = :b, hash = :h WHERE record_id = :r"),
            {"b": body, "h": forged, "r": victim["record_id"]},
        )
    result = await any_store.verify()
    assert [(p.stream, p.seq) for p in result.problems] == [("node-1", 3)]
    assert "prev_hash" in result.problems[0].problem


async def test_deleted_record_is_named(any_store: ProvStore) -> None:
    await record_scenario(any_store)
    victim = await _row(any_store, "node-1", 3)
    async with any_store.engine.begin() as conn:
        await conn.execute(text(f"DELETE FROM {any_store.records_table.name} WHERE record_id = :r"), {"r": victim["record_id"]})
    result = await any_store.verify()
    assert not result.ok
    assert {p.seq for p in result.problems} == {4}
    assert any("missing" in p.problem and "3" in p.problem for p in result.problems)


async def test_inserted_record_is_named(any_store: ProvStore) -> None:
    await record_scenario(any_store)
    first = await _row(any_store, "session-alice", 1)
    # a well-formed record claiming to be seq 2, correctly hashed on top of seq 1
    body = json.dumps({"elements": [], "relations": []})
    h = record_hash("forged-0000", "session-alice", 2, "note", first["time"], body, first["hash"])
    async with any_store.engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {any_store.records_table.name} SET seq = seq + 1000 WHERE stream = 'session-alice' AND seq >= 2")
        )
        await conn.execute(
            text(
                f"INSERT INTO {any_store.records_table.name} (record_id, stream, seq, kind, time, body, prev_hash, hash) "
                "VALUES ('forged-0000', 'session-alice', 2, 'note', :t, :b, :p, :h)"
            ),
            {"t": first["time"], "b": body, "p": first["hash"], "h": h},
        )
        await conn.execute(
            text(f"UPDATE {any_store.records_table.name} SET seq = seq - 999 WHERE stream = 'session-alice' AND seq > 1000")
        )
    result = await any_store.verify()
    assert not result.ok
    # the record after the forged one no longer chains onto its predecessor
    assert [(p.stream, p.seq) for p in result.problems if "prev_hash" in p.problem] == [("session-alice", 3)]


async def test_writers_continue_a_stream_and_concurrent_writers_do_not_fork_it(any_store: ProvStore) -> None:
    body = {"elements": [], "relations": []}
    async with ProvWriter(any_store, 0.05) as w:
        for _ in range(5):
            w.append("shared", "note", body)
    a, b = ProvWriter(any_store, 10), ProvWriter(any_store, 10)
    for i in range(3):
        a.append("shared", "note", {"elements": [], "relations": [], "event": f"a{i}"})
        b.append("shared", "note", {"elements": [], "relations": [], "event": f"b{i}"})
    await a.flush()  # b's cached head would now collide: it must re-read and chain after a's records
    await b.close()
    await a.close()
    rows = await any_store.records(stream="shared")
    assert sorted(r.seq for r in rows) == list(range(1, 12))
    result = await any_store.verify()
    assert result.ok, result.problems
    first = min(rows, key=lambda r: r.seq)
    assert first.prev_hash == GENESIS
