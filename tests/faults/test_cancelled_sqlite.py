"""A SQLite statement cancelled mid-flight under an anyio cancel scope (uvicorn's shutdown of a
request, a FastMCP call, ``move_on_after``) leaves no task behind and the pool usable.

SQLAlchemy hard-closes (terminates) a connection whose operation was cancelled. aiosqlite's
default terminate awaits a shielded graceful close; anyio delivers the cancellation again to
that await, the driver's thread is stopped, and the shielded close waits forever on the stopped
thread: a pending task that the garbage collector later destroys in whichever test runs then
(``Exception ignored in: <coroutine object AsyncAdapt_aiosqlite_connection.
_terminate_graceful_close>``, which failed tests/faults/test_postgres_restart.py after
test_gateway_restart.py had cancelled the gateway's in-flight SQLite reads at shutdown).

The statement blocks in a SQL function until the test releases it, so the cancellation lands
while it runs (no timing involved).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from prov_agent.store import engine_for
from workflows.store.database import Database, ReadStatement

pytestmark = [pytest.mark.faults]


class Gate:
    """A SQL function ``gate()`` that blocks the statement until :meth:`release`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()

    def install(self, engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "connect")
        def _gate(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.create_function("gate", 0, self._wait)

    def _wait(self) -> int:
        self.entered.set()
        self.released.wait(30)
        return 1

    def release(self) -> None:
        self.released.set()


def stray_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


async def cancel_mid_statement(engine: AsyncEngine, gate: Gate) -> list[asyncio.Task[Any]]:
    """Run ``SELECT gate()``, cancel it while it blocks, and return the tasks left pending."""

    async def statement() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT gate()"))

    before = set(stray_tasks())
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(statement)
            await anyio.to_thread.run_sync(gate.entered.wait, 30)
            assert gate.entered.is_set(), "the statement never started"
            group.cancel_scope.cancel()
        left = [t for t in stray_tasks() if t not in before]
    finally:
        gate.release()
    for task in left:  # so that a regression fails here, not in the loop's teardown
        task.cancel()
    if left:
        await asyncio.wait(left, timeout=10)
    return left


async def answers(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT 1"))).scalar_one()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cancel.db'}")
    await db.open(upgrade=False)
    try:
        yield db
    finally:
        await db.close()


async def test_a_cancelled_sqlite_statement_of_the_database_port_leaves_no_task(database: Database) -> None:
    gate = Gate()
    gate.install(database.engine)
    await database.engine.dispose()  # the connection pooled by open() predates the gate
    left = await cancel_mid_statement(database.shared_engine(), gate)
    assert left == [], f"tasks left pending by the cancelled connection: {left}"
    assert database.engine.pool.checkedout() == 0
    assert await answers(database.shared_engine()) == 1  # the pool hands out a working connection


async def test_a_cancelled_statement_on_the_provenance_engine_leaves_no_task(tmp_path: Path) -> None:
    engine = engine_for(state_dir=tmp_path)
    gate = Gate()
    gate.install(engine)
    try:
        left = await cancel_mid_statement(engine, gate)
        assert left == [], f"tasks left pending by the cancelled connection: {left}"
        assert engine.pool.checkedout() == 0
        assert await answers(engine) == 1
    finally:
        await engine.dispose()


async def test_a_cancelled_one_trip_read_leaves_no_task_and_its_connection_pooled(database: Database) -> None:
    """`Database.rows` hands the statement to aiosqlite itself (one round trip): cancelled while
    the statement runs, the connection goes back to the pool (a read leaves no transaction) and
    the next read on it waits its turn behind the cancelled one."""
    gate = Gate()
    gate.install(database.engine)
    await database.engine.dispose()
    read = ReadStatement(select(func.gate()))
    before = set(stray_tasks())
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(database.rows, read, {})
            await anyio.to_thread.run_sync(gate.entered.wait, 30)
            assert gate.entered.is_set(), "the statement never started"
            group.cancel_scope.cancel()
        left = [t for t in stray_tasks() if t not in before]
        assert database.engine.pool.checkedout() == 0
    finally:
        gate.release()
    assert left == [], f"tasks left pending by the cancelled read: {left}"
    assert [tuple(row) for row in await database.rows(read, {})] == [(1,)]
