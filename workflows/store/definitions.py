"""Workflow definitions: immutable (name, version) rows identified by the sha256 of their source."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import ColumnElement, select

from workflows.store.database import Database
from workflows.store.errors import DefinitionConflict, InvalidQuery, NotFound
from workflows.store.models import DefinitionRow
from workflows.store.paging import fetch_page
from workflows.store.records import DefinitionRecord, Page
from workflows.store.timestamps import utcnow


def source_hash(source: str) -> str:
    """The sha256 hex digest of ``source`` (UTF-8)."""
    return hashlib.sha256(source.encode()).hexdigest()


class Definitions:
    """Registered workflow definitions.

    Example::

        await store.definitions.register("stf_datataking", "1.0", source)   # new row
        await store.definitions.register("stf_datataking", "1.0", source)   # same row again
        await store.definitions.register("stf_datataking", "1.0", changed)  # DefinitionConflict
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(
        self,
        name: str,
        version: str,
        source: str,
        parameter_schema: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> DefinitionRecord:
        """Store ``name`` ``version``; the same source again returns the stored row."""
        if not name:
            raise InvalidQuery("name", "a workflow definition needs a name")
        if not version:
            raise InvalidQuery("version", "a workflow definition needs a version, e.g. '1.0'")
        digest = source_hash(source)
        async with self._db.transaction() as session:
            stmt = (
                self._db.insert(DefinitionRow)
                .values(name=name, version=version, source_hash=digest, source=source,
                        parameter_schema=parameter_schema or {}, description=description,
                        created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["name", "version"])
            )
            await session.execute(stmt)
            row = await session.scalar(
                select(DefinitionRow).where(DefinitionRow.name == name, DefinitionRow.version == version)
            )
            assert row is not None
            if row.source_hash != digest:
                raise DefinitionConflict(name, version, row.source_hash, digest)
            return DefinitionRecord.model_validate(row)

    async def get(self, name: str, version: str | None = None) -> DefinitionRecord:
        """Definition ``name`` at ``version`` (the most recently registered one when None)."""
        stmt = select(DefinitionRow).where(DefinitionRow.name == name)
        if version is not None:
            stmt = stmt.where(DefinitionRow.version == version)
        stmt = stmt.order_by(DefinitionRow.created_at.desc(), DefinitionRow.id.desc()).limit(1)
        async with self._db.session() as session:
            row = await session.scalar(stmt)
        if row is None:
            raise NotFound("workflow definition", name if version is None else f"{name} {version}")
        return DefinitionRecord.model_validate(row)

    async def list(self, name: str | None = None, limit: int = 50,
                   cursor: str | None = None) -> Page[DefinitionRecord]:
        """Definitions, newest first, optionally of one workflow name."""
        conditions: list[ColumnElement[bool]] = []
        if name is not None:
            conditions.append(DefinitionRow.name == name)
        async with self._db.session() as session:
            return await fetch_page(session, DefinitionRow, DefinitionRecord, conditions,
                                    (DefinitionRow.created_at, DefinitionRow.id), limit, cursor,
                                    "definitions")
