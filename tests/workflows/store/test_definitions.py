"""Workflow definitions are immutable per (name, version)."""

from __future__ import annotations

import pytest

from workflows.store import DefinitionConflict, InvalidQuery, NotFound, Store
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
