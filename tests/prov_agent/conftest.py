"""Fixtures of the provenance tests: a store on SQLite (and on PostgreSQL for the store suite),
and a recorded scenario: alice's Claude Code asks a model, decides, starts a workflow, whose
execution, run and STF files the node links to that call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from prov_agent.model import AIAgent, AIModel, Person, SoftwareAgent
from prov_agent.recorder import Recorder
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[ProvStore]:
    engine = engine_for(state_dir=tmp_path)
    store = ProvStore(engine)
    await store.create_schema()
    yield store
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ProvStore]:
    """The same suite on SQLite and on PostgreSQL (own table prefix per test, dropped after)."""
    if request.param == "sqlite":
        engine = engine_for(state_dir=tmp_path)
        store = ProvStore(engine)
        await store.create_schema()
        yield store
        await engine.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    engine = engine_for(database_url=url)
    store = ProvStore(engine, table_prefix=f"prov_t{uuid.uuid4().hex[:10]}_")
    await store.create_schema()
    try:
        yield store
    finally:
        async with engine.begin() as conn:
            for table in (store.mentions_table.name, store.records_table.name, f"{store.table_prefix}alembic_version"):
                await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()


@dataclass
class Scenario:
    call: str
    decision: str
    invocation: str
    stf: list[str]
    execution: str = "stf_datataking-alice-0001"


async def record_scenario(store: ProvStore, stream: str = "session-alice") -> Scenario:
    alice = Person(user="alice")
    claude = AIAgent(name="claude-code", version="2.1.328")
    daq = SoftwareAgent(name="daq-agent-alice-1", agent_type="daq")
    async with ProvWriter(store, flush_interval=0.05) as writer:
        rec = Recorder(writer, stream=stream)
        with rec.model_invocation(claude, AIModel(name="claude-sonnet-4-5", provider="anthropic"), "Start a run?") as inv:
            inv.response("Start stf_datataking with 2 STFs.", tokens_in=5, tokens_out=9)
        decision = rec.decision(claude, "start_workflow", "the testbed is ready", ["wait"], informed_by=[inv.id])
        with rec.tool_call(claude, "start_workflow", {"namespace": "alice"}, on_behalf_of=alice, informed_by=[decision]) as call:
            pass
        # someone else's call through the same client: must not show up in alice's lineage
        rec.gateway_call("bob", "claude-code", "2.1.328", "list_runs", {"namespace": "bob"}, "node-1", "namespace", "ok", 0.002)
        node = Recorder(writer, stream="node-1")
        node.workflow_event(
            "execution_started", execution="stf_datataking-alice-0001", namespace="alice",
            workflow="stf_datataking", informed_by=call.id,
        )
        node.workflow_event("run_started", execution="stf_datataking-alice-0001", run=100010)
        stf = [
            node.workflow_event(
                "file_created", execution="stf_datataking-alice-0001", run=100010,
                file=f"swf.100010.{n:06d}.stf", agent=daq, attrs={"size_bytes": 1000 + n},
            )
            for n in (1, 2)
        ]
        node.workflow_event("execution_ended", execution="stf_datataking-alice-0001", status="completed")
    return Scenario(call=call.id, decision=decision, invocation=inv.id, stf=stf)
