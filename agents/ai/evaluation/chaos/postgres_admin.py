"""Statements on a PostgreSQL server's ``postgres`` database: scratch databases for the suite and
closing one to connections (database_unavailable). asyncpg directly, not the node's store."""

from __future__ import annotations

import contextlib
import uuid


async def admin_execute(database_url: str, *statements: str) -> None:
    """Run ``statements`` on the ``postgres`` database of the server ``database_url`` names."""
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def database_name(database_url: str) -> str:
    """The database a URL names (``.../NAME?options`` -> ``NAME``)."""
    return database_url.rsplit("/", 1)[1].split("?")[0]


async def scratch_database(postgres_url: str) -> str:
    """Create a fresh database on the server of ``postgres_url``; returns its URL."""
    name = f"controlroom_chaos_{uuid.uuid4().hex[:8]}"
    await admin_execute(postgres_url, f'CREATE DATABASE "{name}"')
    base = postgres_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def drop_database(database_url: str) -> None:
    """Reopen and drop a scratch database (best effort: the suite's cleanup must not mask its result)."""
    database = database_name(database_url)
    with contextlib.suppress(Exception):
        await admin_execute(database_url, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true',
                            f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
