"""The workflow definitions registry."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Generator
from typing import Any

import pytest

import workflows.stf_datataking as stf_module
from workflows.definitions import DefinitionRegistry, WorkflowDefinition, get_definition, registry
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
