"""The same full in-process run with the store on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from agents.testbed.bus.embedded import EmbeddedBus
from agents.testbed.testbed import TestbedManager
from workflows.store.store import Store

pytestmark = pytest.mark.postgres


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[Store]:
    schema = f"testbed_{uuid.uuid4().hex[:10]}"
    await _admin(postgres_url, f'CREATE SCHEMA "{schema}"')
    try:
        async with Store.from_url(postgres_url, schema=schema) as store:
            yield store
    finally:
        await _admin(postgres_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_full_run_on_postgres(pg_store: Store) -> None:
    async with TestbedManager(store=pg_store, bus_factory=EmbeddedBus, mode="inprocess", node_name="pg-node",
                              heartbeat_interval_s=5.0) as manager:
        await manager.start_testbed("pgns")
        record = await manager.start_workflow("pgns", parameters={"stf_count": 4, "target_worker_count": 4})
        record = await manager.wait_for_execution(record.execution_id, 60)
        assert record.status == "completed", record.error
        per_sample = int(record.parameters["slices_per_sample"])
        assert (await pg_store.runs.list_stf(execution_id=record.execution_id)).total == 4
        assert (await pg_store.runs.list_tf_samples(execution_id=record.execution_id)).total == 4
        counts = await pg_store.runs.slice_counts(record.execution_id)
        assert counts == {"queued": 0, "processing": 0, "done": 4 * per_sample, "failed": 0}
        run = await pg_store.runs.get_run(record.run_number)  # type: ignore[arg-type]
        assert run.status == "ended" and run.total_stf_files == 4
    assert (await pg_store.executions.list(currently_running=True)).total == 0
    assert {a.status for a in (await pg_store.agents.list_agents(namespace="pgns", limit=200)).items} == {"EXITED"}
