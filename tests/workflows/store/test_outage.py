"""What counts as a database outage, and how long a write waits for the database to return."""

from __future__ import annotations

import asyncpg
import pytest
from asyncpg.exceptions._base import InternalClientError

from workflows.store.database import connection_lost
from workflows.store.errors import NotFound, StoreUnavailable
from workflows.store.outage import DEFAULT_OUTAGE_S, OUTAGE_ENV, outage_bound_s, retry_unavailable


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),  # 57P03
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),  # 57P01
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    InternalClientError("cannot switch to state 11; another operation (2) is in progress"),
    ConnectionRefusedError(111, "Connect call failed"),
])
def test_a_server_going_away_is_an_outage(error: BaseException) -> None:
    wrapped = RuntimeError("the driver's adapted error")
    wrapped.__cause__ = error
    assert connection_lost(error) and connection_lost(wrapped)


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.UniqueViolationError("duplicate key value"),  # 23505: a refused write, not an outage
    asyncpg.exceptions.UndefinedTableError("relation does not exist"),
    ValueError("a bug"),
])
def test_a_refused_statement_is_not_an_outage(error: BaseException) -> None:
    assert not connection_lost(error)


async def test_a_write_is_retried_until_the_database_answers() -> None:
    calls: list[int] = []

    async def write() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise StoreUnavailable("connection refused")
        return "written"

    assert await retry_unavailable(write, what="a write", bound_s=30) == "written"
    assert len(calls) == 3


async def test_past_the_bound_the_last_error_is_raised_with_how_long() -> None:
    calls: list[int] = []

    async def write() -> None:
        calls.append(1)
        raise StoreUnavailable("connection refused")

    with pytest.raises(StoreUnavailable, match=r"database unavailable for \d+ s \(close x\): connection refused"):
        await retry_unavailable(write, what="close x", bound_s=0.3)
    assert len(calls) >= 2
    calls.clear()
    with pytest.raises(StoreUnavailable):
        await retry_unavailable(write, what="close x", bound_s=0)  # 0: no retry
    assert len(calls) == 1


async def test_other_store_errors_are_not_retried() -> None:
    calls: list[int] = []

    async def write() -> None:
        calls.append(1)
        raise NotFound("execution", "x-0001")

    with pytest.raises(NotFound):
        await retry_unavailable(write, what="close x", bound_s=30)
    assert len(calls) == 1


def test_the_bound_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OUTAGE_ENV, raising=False)
    assert outage_bound_s() == DEFAULT_OUTAGE_S == 60.0
    monkeypatch.setenv(OUTAGE_ENV, "5")
    assert outage_bound_s() == 5.0
    monkeypatch.setenv(OUTAGE_ENV, "soon")
    with pytest.raises(ValueError, match=OUTAGE_ENV):
        outage_bound_s()
