"""The workflow definitions registry."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Generator
from typing import Any

import pytest

import workflows.stf_datataking as stf_module
from workflows.definitions import DefinitionRegistry, ReservedName, WorkflowDefinition, get_definition, registry, reserved_names
from workflows.errors import DefinitionError
from workflows.executor import WorkflowContext
from workflows.params import DaqParameters


def tiny(ctx: WorkflowContext) -> Generator[Any, Any, None]:
    yield ctx.env.timeout(1)


def test_stf_datataking_is_registered_with_its_module_source_hash() -> None:
    d = get_definition("stf_datataking")
    assert d.function is stf_module.stf_datataking and d.parameter_model is DaqParameters
    assert d.source_hash == hashlib.sha256(inspect.getsource(stf_module).encode()).hexdigest()
    assert d.parameter_schema()["properties"]["stf_interval"]["exclusiveMinimum"] == 0
    assert "stf_datataking" in registry.names()


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(DefinitionError, match=r"unknown workflow 'stf_datatakin'; known workflows: .*stf_datataking"):
        get_definition("stf_datatakin")
    with pytest.raises(DefinitionError, match=r"has no version '9'; versions: 1.0"):
        get_definition("stf_datataking", "9")


def test_definitions_are_immutable_and_versions_coexist() -> None:
    reg = DefinitionRegistry()
    v1 = reg.register(WorkflowDefinition("tiny", "1", tiny, DaqParameters, "a tiny workflow"))
    assert reg.register(WorkflowDefinition("tiny", "1", tiny, DaqParameters, "same code again")) is v1
    with pytest.raises(DefinitionError, match="already registered with different source; definitions are immutable"):
        reg.register(WorkflowDefinition("tiny", "1", tiny, DaqParameters, "changed", source="def tiny(): pass"))
    v2 = reg.register(WorkflowDefinition("tiny", "2", tiny, DaqParameters, "v2", source="def tiny(): pass"))
    assert reg.get("tiny") is v2 and reg.get("tiny", "1") is v1
    assert [d.version for d in reg.all()] == ["1", "2"]
    assert v1.source_hash != v2.source_hash


def test_code_without_a_file_needs_its_source_given() -> None:
    namespace: dict[str, Any] = {}
    code = "def generated(ctx):\n    yield ctx.env.timeout(1)\n"
    exec(compile(code, "<generated>", "exec"), namespace)  # what a generated workflow looks like
    with pytest.raises(DefinitionError, match="cannot be read .*pass source=<the code>"):
        WorkflowDefinition("generated", "1", namespace["generated"], DaqParameters, "generated")
    d = WorkflowDefinition("generated", "1", namespace["generated"], DaqParameters, "generated", source=code)
    assert d.source_hash == hashlib.sha256(code.encode()).hexdigest()


def test_a_namespace_sees_its_own_and_the_builtins_never_another_namespaces() -> None:
    reg = DefinitionRegistry()
    builtin = reg.register(WorkflowDefinition("shipped", "1", tiny, DaqParameters, "built-in"))
    mine = reg.register(WorkflowDefinition("mine", "1", tiny, DaqParameters, "alice's", source="alice"), namespace="alice")
    assert reg.resolve("mine", namespace="alice") == ("alice", mine)
    assert reg.resolve("shipped", namespace="alice") == (None, builtin)
    with pytest.raises(DefinitionError, match=r"unknown workflow 'mine'; known workflows: shipped$"):
        reg.get("mine", namespace="bob")
    with pytest.raises(DefinitionError, match="unknown workflow 'mine'"):
        reg.get("mine")  # not a built-in either
    assert reg.names("alice") == ["mine", "shipped"] and reg.names("bob") == ["shipped"] and reg.names() == ["shipped"]
    # the same name in two namespaces is two definitions; neither sees the other's
    bobs = reg.register(WorkflowDefinition("mine", "1", tiny, DaqParameters, "bob's", source="bob"), namespace="bob")
    assert reg.get("mine", namespace="bob") is bobs and reg.get("mine", namespace="alice") is mine
    assert [(scope, d.name) for scope, d in reg.entries(every_namespace=True)] == \
        [("alice", "mine"), ("bob", "mine"), (None, "shipped")]
    reg.forget_namespaces()
    assert [(scope, d.name) for scope, d in reg.entries(every_namespace=True)] == [(None, "shipped")]


def test_builtin_and_shipped_config_names_are_reserved_for_namespaces() -> None:
    reg = DefinitionRegistry()
    reg.register(WorkflowDefinition("shipped", "1", tiny, DaqParameters, "built-in"))
    for name in ("shipped", "fast_processing_default", "testbed"):
        with pytest.raises(ReservedName, match=rf"name: '{name}' is a built-in .* reserved.*rename the spec"):
            reg.register(WorkflowDefinition(name, "2", tiny, DaqParameters, "takeover", source="evil"), namespace="eve")
    assert reg.names("eve") == ["shipped"] and reg.get("shipped", namespace="eve").version == "1"
    assert "stf_datataking" in reserved_names()
