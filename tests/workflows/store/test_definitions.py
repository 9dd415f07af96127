"""Workflow definitions are immutable per (name, version)."""

from __future__ import annotations

import pytest

from sqlalchemy import text

from tests.workflows.store.conftest import Backend
from workflows.store import DefinitionConflict, InvalidQuery, NotFound, Store
from workflows.store.database import Database
from workflows.store.definitions import source_hash


async def test_register_is_idempotent_for_the_same_source(store: Store) -> None:
    first = await store.definitions.register("stf_datataking", "1.0", "def run(): ...",
                                             {"stf_count": {"type": "integer"}}, "STF datataking")
    again = await store.definitions.register("stf_datataking", "1.0", "def run(): ...")
    assert again == first
    assert first.source_hash == source_hash("def run(): ...")
    assert first.parameter_schema == {"stf_count": {"type": "integer"}}


async def test_changed_source_needs_a_new_version(store: Store) -> None:
    old = await store.definitions.register("stf_datataking", "1.0", "v1")
    with pytest.raises(DefinitionConflict) as caught:
        await store.definitions.register("stf_datataking", "1.0", "v2")
    message = str(caught.value)
    assert old.source_hash in message and source_hash("v2") in message and "bump the version" in message
    newer = await store.definitions.register("stf_datataking", "1.1", "v2")
    assert (await store.definitions.get("stf_datataking")).version == newer.version
    assert (await store.definitions.get("stf_datataking", "1.0")).source == "v1"
    page = await store.definitions.list(name="stf_datataking")
    assert [d.version for d in page.items] == ["1.1", "1.0"]


async def test_missing_and_bad_definitions_are_named(store: Store) -> None:
    with pytest.raises(NotFound, match="workflow definition"):
        await store.definitions.get("nothing")
    with pytest.raises(InvalidQuery, match="version"):
        await store.definitions.register("x", "", "src")


async def test_definitions_are_scoped_by_namespace(store: Store) -> None:
    builtin = await store.definitions.register("stf_datataking", "1.0", "built-in source")
    assert builtin.namespace is None and builtin.files is None
    alice = await store.definitions.register("fl", "spec.1", "alice's", namespace="alice",
                                             files={"fl.toml": "[workflow]\n", "fl_tasks.py": "print(1)\n"},
                                             registered_by="alice")
    bob = await store.definitions.register("fl", "spec.1", "bob's", namespace="bob")  # no conflict across namespaces
    assert (alice.namespace, bob.namespace) == ("alice", "bob") and alice.id != bob.id
    assert (await store.definitions.get("fl", namespace="alice")).source == "alice's"
    assert (await store.definitions.get("fl", namespace="bob")).source == "bob's"
    assert (await store.definitions.get("stf_datataking", namespace="alice")).namespace is None  # then the built-ins
    with pytest.raises(NotFound):
        await store.definitions.get("fl", namespace="carol")
    with pytest.raises(NotFound):
        await store.definitions.get("fl")  # not a built-in
    assert {d.name for d in (await store.definitions.list(namespace="carol")).items} == {"stf_datataking"}
    assert (await store.definitions.list(every_namespace=True)).total == 3
    with pytest.raises(DefinitionConflict):
        await store.definitions.register("fl", "spec.1", "changed", namespace="alice")
    generated = await store.definitions.generated()
    assert [(d.namespace, d.name, d.files) for d in generated] == \
        [("alice", "fl", {"fl.toml": "[workflow]\n", "fl_tasks.py": "print(1)\n"})]
    assert generated[0].registered_by == "alice"


async def test_migration_0002_keeps_existing_definitions_as_builtins(backend: Backend) -> None:
    db = Database(backend.url, schema=backend.schema)
    await db.open(upgrade=False)
    try:
        await db.upgrade("0001")
        async with db.transaction() as session:
            await session.execute(text(
                "INSERT INTO workflow_definitions (name, version, source_hash, source, parameter_schema, created_at) "
                "VALUES ('stf_datataking', '1.0', :digest, 'old source', '{}', CURRENT_TIMESTAMP)"),
                {"digest": source_hash("old source")})
        await db.upgrade("head")
        store = Store(db)
        row = await store.definitions.get("stf_datataking", namespace="alice")
        assert (row.namespace, row.source, row.files) == (None, "old source", None)
        # the unique key is now (namespace, name, version): a namespace's row beside the built-in one
        await store.definitions.register("stf_datataking", "1.0", "other", namespace="alice")
        with pytest.raises(DefinitionConflict):
            await store.definitions.register("stf_datataking", "1.0", "changed")
    finally:
        await db.close()
