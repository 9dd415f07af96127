"""A database outage under the testbed, for real: the store reaches the shared PostgreSQL through a
TCP forwarder that the test cuts (the port refuses, every open connection is closed) and restores
on the same port. Nothing the runner must write is lost, and nothing stays ``running``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from agents.testbed.framework.agent import AgentContext
from agents.testbed.bus.embedded import EmbeddedBus
from agents.ai.evaluation.chaos import BrokerProxy
from agents.testbed.kinds.run_recorder import RunningExecution
from agents.testbed.kinds.workflow_runner import WorkflowRunnerAgent
from agents.testbed.testbed import TestbedManager
from workflows.store.errors import StoreUnavailable
from workflows.store.outage import retry_unavailable
from workflows.store.records import ExecutionRecord
from workflows.store.store import Store

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

NS = "outage"


class PostgresProxy(BrokerProxy):
    """The chaos TCP forwarder in front of PostgreSQL, restorable on the same port."""

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def schema(postgres_url: str) -> AsyncIterator[str]:
    name = f"outage_{uuid.uuid4().hex[:10]}"
    await _admin(postgres_url, f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        await _admin(postgres_url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[PostgresProxy]:
    parsed = make_url(postgres_url)
    async with PostgresProxy((parsed.host or "127.0.0.1", parsed.port or 5432)) as opened:
        yield opened


@pytest.fixture
async def direct(postgres_url: str, schema: str) -> AsyncIterator[Store]:
    """The same schema, not through the proxy: what the test reads to judge."""
    async with Store.from_url(postgres_url, schema=schema) as store:
        yield store


@pytest.fixture
async def proxied(postgres_url: str, schema: str, proxy: PostgresProxy, direct: Store) -> AsyncIterator[Store]:
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    async with Store.from_url(url, schema=schema) as store:
        yield store


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


def _fastproc_complained(caplog: pytest.LogCaptureFixture) -> bool:
    """The fast processing agent logged a warning or worse (its missed heartbeats aside)."""
    return any(record.name.startswith("controlroom.agent.fast_processing") and record.levelno >= logging.WARNING
               and "heartbeat" not in record.getMessage() for record in caplog.records)


async def _running_execution(store: Store) -> ExecutionRecord:
    record = await store.executions.create("stf_datataking", NS, "alice", {}, "hash", None, {}, realtime=False)
    return await store.executions.set_status(record.execution_id, "running")


async def test_pooled_connections_the_server_closed_are_replaced(proxied: Store, proxy: PostgresProxy) -> None:
    await proxied.executions.list(namespace=NS)  # a pooled connection
    await proxy.drop()  # the server side of every open connection goes away
    # pool_pre_ping + the disconnect classification: the dead connection is replaced, no error
    assert (await proxied.executions.list(namespace=NS)).total == 0


async def test_an_unreachable_database_is_store_unavailable_and_the_retry_is_bounded(
        proxied: Store, proxy: PostgresProxy) -> None:
    await proxy.cut()
    with pytest.raises(StoreUnavailable) as raised:
        await proxied.executions.list(namespace=NS)
    with pytest.raises(StoreUnavailable) as bounded:
        await retry_unavailable(lambda: proxied.executions.list(namespace=NS), what="list executions", bound_s=0.5)
    assert "database unavailable for" in str(bounded.value) and "list executions" in str(bounded.value)
    await proxy.restore()
    assert (await proxied.executions.list(namespace=NS)).total == 0, raised.value


@contextlib.asynccontextmanager
async def _runner(store: Store, **options: float) -> AsyncIterator[WorkflowRunnerAgent]:
    """A workflow runner alone on an embedded bus (what it writes is what the test judges)."""
    bus = EmbeddedBus()
    await bus.connect()
    agent = WorkflowRunnerAgent(AgentContext(namespace=NS, bus=bus, store=store, agent_id="1",
                                             heartbeat_interval_s=5.0, options=dict(options)))
    task = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(30):
            await agent.ready.wait()
        yield agent
    finally:
        agent.stop()
        await task
        await bus.close()


async def test_a_failure_met_during_an_outage_is_written_once_the_database_is_back(
        proxied: Store, direct: Store, proxy: PostgresProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with _runner(proxied, store_sweep_s=3600.0) as runner:
        execution = await _running_execution(direct)
        await proxy.cut()
        failing = asyncio.create_task(runner._fail(RunningExecution(execution.execution_id), "boom: the test failed it"))
        await _until(lambda: failing.done() or _logged(caplog, "the database is unavailable"),
                     "the runner met the outage or gave up")
        assert not failing.done(), "the runner gave up on the closing write at once"
        await proxy.restore()
        await failing
        record = await direct.executions.get(execution.execution_id)
        assert record.status == "failed", record  # before the fix: 'running' forever (the error was swallowed)
        assert record.error == "boom: the test failed it"
        assert record.end_time is not None


async def test_past_the_bound_the_sweep_closes_it_and_every_execution_left_running(
        proxied: Store, direct: Store, proxy: PostgresProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with _runner(proxied, store_outage_s=0.0, store_sweep_s=0.2) as runner:
        execution = await _running_execution(direct)
        await proxy.cut()
        await runner._close_failed(RunningExecution(execution.execution_id), "boom: failed while the database was away")
        assert _logged(caplog, "could not be closed failed")
        assert (await direct.executions.get(execution.execution_id)).status == "running"
        orphan = await _running_execution(direct)  # a closing write lost without a trace
        await proxy.restore()

        async def closed() -> tuple[ExecutionRecord, ExecutionRecord]:
            while True:
                first = await direct.executions.get(execution.execution_id)
                second = await direct.executions.get(orphan.execution_id)
                if first.status != "running" and second.status != "running":
                    return first, second
                await asyncio.sleep(0.05)

        async with asyncio.timeout(60):
            first, second = await closed()
        assert (first.status, first.error) == ("failed", "boom: failed while the database was away")
        assert second.status == "failed" and second.error and "periodic check closed it" in second.error
        assert runner.running == {}


async def test_a_run_outlives_a_database_outage_and_completes_with_every_slice(
        proxied: Store, direct: Store, proxy: PostgresProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with TestbedManager(store=proxied, bus_factory=EmbeddedBus, mode="inprocess", node_name="outage-node",
                              heartbeat_interval_s=5.0) as manager:
        await manager.start_testbed(NS)
        record = await manager.start_workflow(NS, realtime=True, parameters={
            "stf_count": 6, "slices_per_sample": 4, "target_worker_count": 2, "slice_processing_time": 10.0,
            "realtime_factor": 0.05})
        execution_id = record.execution_id
        async with asyncio.timeout(60):  # cut while some slices are done and others still wait
            while True:
                counts = await direct.runs.slice_counts(execution_id)
                if counts["done"] and counts["queued"] + counts["processing"]:
                    break
                await asyncio.sleep(0.05)
        await proxy.cut()
        # the fast processing agent met the outage (its flush of results, or storing a sample's
        # slices): before the fix its flush task died here ("task fastproc-flush-... failed") and the results it held were never written
        await _until(lambda: _fastproc_complained(caplog), "the fast processing agent met the outage")
        await proxy.restore()
        record = await manager.wait_for_execution(execution_id, 120)
        assert record.status == "completed", record.error
        slices = 6 * 4
        async with asyncio.timeout(60):
            while (counts := await direct.runs.slice_counts(execution_id))["done"] < slices:
                await asyncio.sleep(0.05)
        assert counts == {"queued": 0, "processing": 0, "done": slices, "failed": 0}
        received = await direct.counters.current(f"slice_results_received:{execution_id}")
        assert received is not None and received >= slices  # at-least-once: nothing lost
        # the agent's write that met the outage went through afterwards: its flush of results, or
        # (when the cut came as it stored a sample's slices) that write's retry
        assert _logged(caplog, "flush succeeded again") or any(
            record.name.startswith("controlroom.agent.fast_processing")
            and "the database answered again" in record.getMessage() for record in caplog.records)
        await manager.stop_testbed(NS)
    assert (await direct.executions.list(namespace=NS, currently_running=True)).total == 0


async def test_an_outage_past_the_bound_fails_the_execution_with_the_reason(
        proxied: Store, direct: Store, proxy: PostgresProxy, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("CONTROLROOM_STORE_OUTAGE_S", "1")  # the documented knob; every agent reads it
    # the failed run's slices never drain (they were never stored); the wait below gives up on the
    # drain after drain_timeout_s (30 s by default), which says nothing this test checks
    async with TestbedManager(store=proxied, bus_factory=EmbeddedBus, mode="inprocess", node_name="outage-node",
                              heartbeat_interval_s=5.0, drain_timeout_s=2.0) as manager:
        await manager.start_testbed(NS)
        record = await manager.start_workflow(NS, realtime=True, parameters={
            "stf_count": 50, "slices_per_sample": 2, "target_worker_count": 1, "realtime_factor": 0.05})
        execution_id = record.execution_id
        async with asyncio.timeout(60):
            while (await direct.executions.get(execution_id)).stf_count < 1:
                await asyncio.sleep(0.05)
        await proxy.cut()
        # the runner gave up on the run's messages, stopped the run, and could not write 'failed' either
        await _until(lambda: _logged(caplog, f"execution {execution_id} could not be closed failed"),
                     "the runner failed the execution during the outage")
        assert (await direct.executions.get(execution_id)).status == "running"
        await proxy.restore()
        record = await manager.wait_for_execution(execution_id, 120)  # the sweep writes it
        assert record.status == "failed", record
        assert record.error and "database unavailable for" in record.error, record.error
        run = await direct.runs.get_run(record.run_number)  # type: ignore[arg-type]
        assert run.status == "ended"
        await manager.stop_testbed(NS)
    assert (await direct.executions.list(namespace=NS, currently_running=True)).total == 0
