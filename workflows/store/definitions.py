"""Workflow definitions: immutable (namespace, name, version) rows identified by the sha256 of their source.

A row's namespace is "" in the table for a built-in definition (None in the records and in the
arguments here) and the registering namespace for a generated one. Lookups resolve as the
registry does: the namespace's own rows first, then the built-ins; another namespace's rows are
never returned.
"""

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

BUILTIN = ""
"""The namespace column of a built-in definition."""


def source_hash(source: str) -> str:
    """The sha256 hex digest of ``source`` (UTF-8)."""
    return hashlib.sha256(source.encode()).hexdigest()


def _scopes(namespace: str | None) -> list[str]:
    return [namespace, BUILTIN] if namespace else [BUILTIN]


class Definitions:
    """Registered workflow definitions.

    Example::

        await store.definitions.register("stf_datataking", "1.0", source)   # new row
        await store.definitions.register("stf_datataking", "1.0", source)   # same row again
        await store.definitions.register("stf_datataking", "1.0", changed)  # DefinitionConflict
        await store.definitions.register("fl", "spec.1", src, namespace="alice", files={"fl.toml": "..."})
        await store.definitions.get("fl", namespace="bob")                  # NotFound
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
        *,
        namespace: str | None = None,
        files: dict[str, str] | None = None,
        registered_by: str | None = None,
    ) -> DefinitionRecord:
        """Store ``name`` ``version`` in ``namespace`` (None: built-in); the same source again returns the stored row."""
        if not name:
            raise InvalidQuery("name", "a workflow definition needs a name")
        if not version:
            raise InvalidQuery("version", "a workflow definition needs a version, e.g. '1.0'")
        scope = namespace or BUILTIN
        digest = source_hash(source)
        async with self._db.transaction() as session:
            stmt = (
                self._db.insert(DefinitionRow)
                .values(namespace=scope, name=name, version=version, source_hash=digest, source=source,
                        parameter_schema=parameter_schema or {}, description=description, files=files,
                        registered_by=registered_by, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["namespace", "name", "version"])
            )
            await session.execute(stmt)
            row = await session.scalar(select(DefinitionRow).where(
                DefinitionRow.namespace == scope, DefinitionRow.name == name, DefinitionRow.version == version))
            assert row is not None
            if row.source_hash != digest:
                raise DefinitionConflict(name, version, row.source_hash, digest)
            if files is not None and row.files is None:  # first registered without its files (by a run)
                row.files = files
            return DefinitionRecord.model_validate(row)

    async def get(self, name: str, version: str | None = None, *, namespace: str | None = None) -> DefinitionRecord:
        """Definition ``name`` at ``version`` (the most recently registered one when None), as
        ``namespace`` sees it: its own first, then the built-ins."""
        async with self._db.session() as session:
            for scope in _scopes(namespace):
                stmt = select(DefinitionRow).where(DefinitionRow.namespace == scope, DefinitionRow.name == name)
                if version is not None:
                    stmt = stmt.where(DefinitionRow.version == version)
                stmt = stmt.order_by(DefinitionRow.created_at.desc(), DefinitionRow.id.desc()).limit(1)
                row = await session.scalar(stmt)
                if row is not None:
                    return DefinitionRecord.model_validate(row)
        raise NotFound("workflow definition", name if version is None else f"{name} {version}")

    async def list(self, name: str | None = None, limit: int = 50, cursor: str | None = None, *,
                   namespace: str | None = None, every_namespace: bool = False) -> Page[DefinitionRecord]:
        """Definitions ``namespace`` sees (the built-ins when None; all with ``every_namespace``),
        newest first, optionally of one workflow name."""
        conditions: list[ColumnElement[bool]] = []
        if not every_namespace:
            conditions.append(DefinitionRow.namespace.in_(_scopes(namespace)))
        if name is not None:
            conditions.append(DefinitionRow.name == name)
        async with self._db.session() as session:
            return await fetch_page(session, DefinitionRow, DefinitionRecord, conditions,
                                    (DefinitionRow.created_at, DefinitionRow.id), limit, cursor,
                                    "definitions")

    async def generated(self) -> list[DefinitionRecord]:
        """Every namespace's registered definitions that carry files, oldest first (what a node restores)."""
        stmt = (select(DefinitionRow).where(DefinitionRow.namespace != BUILTIN)
                .order_by(DefinitionRow.created_at, DefinitionRow.id))
        async with self._db.session() as session:
            rows = (await session.scalars(stmt)).all()
            return [DefinitionRecord.model_validate(row) for row in rows if row.files]
