"""`open_store`: the one place a database URL becomes an open store."""

from __future__ import annotations

from pathlib import Path

from workflows.store.database import default_url
from workflows.store.store import open_store


async def test_open_store_opens_at_head_and_closes_after_the_block(tmp_path: Path) -> None:
    async with open_store(default_url(tmp_path)) as store:
        assert store.db.is_open
        assert await store.db.current_revision() is not None
        await store.namespaces.ensure("alice")
    assert not store.db.is_open
    async with open_store(default_url(tmp_path), upgrade=False) as again:  # what an agent child does
        assert [n.name for n in await again.namespaces.list()] == ["alice"]
    assert not again.db.is_open
