"""Store fixtures: every repository test runs on SQLite (tmp_path) and on PostgreSQL.

PostgreSQL isolation: each test gets its own schema (``store_<random>``) through the Database's
``schema`` argument (``search_path``), dropped with CASCADE afterwards, so several test sessions
can share the scratch database.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from workflows.store import Store
from workflows.store.database import default_url


class Backend:
    """Where a test's store lives: a URL and, on PostgreSQL, a schema to create and drop."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema

    async def create(self) -> None:
        if self.schema is not None:
            await _admin(self.url, f'CREATE SCHEMA "{self.schema}"')

    async def drop(self) -> None:
        if self.schema is not None:
            await _admin(self.url, f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def store(self) -> Store:
        return Store.from_url(self.url, schema=self.schema)


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """An empty database: a SQLite file under tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield Backend(default_url(tmp_path / "state"))
        return
    url = request.getfixturevalue("postgres_url")
    found = Backend(url, f"store_{secrets.token_hex(6)}")
    await found.create()
    try:
        yield found
    finally:
        await found.drop()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """An open, upgraded store on each backend."""
    async with backend.store() as opened:
        yield opened
