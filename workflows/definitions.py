"""The registry of workflow definitions: name, version, code, parameter model, source hash.

Definitions are immutable: registering the same name and version again with different source is
refused. The built-in ones are registered in :data:`registry` on import; generated workflows
register into the same object at run time.

Example::

    >>> d = get_definition("stf_datataking")
    >>> d.version, d.parameter_model.__name__, len(d.source_hash)
    ('1.0', 'DaqParameters', 64)
    >>> registry.names()
    ['stf_datataking']
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from workflows.errors import DefinitionError
from workflows.executor import WorkflowFunction
from workflows.params import DaqParameters
from workflows.stf_datataking import stf_datataking


@dataclass(frozen=True)
class WorkflowDefinition:
    """One workflow: its code and what it accepts. ``source`` defaults to its module's source."""

    name: str
    version: str
    function: WorkflowFunction
    parameter_model: type[BaseModel]
    description: str
    source: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.source:
            module = inspect.getmodule(self.function)
            try:
                text = inspect.getsource(module if module is not None else self.function)  # type: ignore[arg-type]
            except (OSError, TypeError):
                raise DefinitionError(
                    f"the source of workflow {self.name!r} cannot be read (defined outside a file?); "
                    "pass source=<the code> to WorkflowDefinition"
                ) from None
            object.__setattr__(self, "source", text)

    @property
    def source_hash(self) -> str:
        """sha256 (hex) of the source: two executions with the same hash ran the same code."""
        return hashlib.sha256(self.source.encode()).hexdigest()

    def parameter_schema(self) -> dict[str, Any]:
        """JSON Schema of the parameters, for tools and LLMs."""
        return self.parameter_model.model_json_schema()


class DefinitionRegistry:
    """Workflow definitions by name and version; the latest registered version is the default."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], WorkflowDefinition] = {}
        self._latest: dict[str, str] = {}

    def register(self, definition: WorkflowDefinition) -> WorkflowDefinition:
        """Add a definition; the same name+version again is accepted only with identical source."""
        key = (definition.name, definition.version)
        existing = self._by_key.get(key)
        if existing is not None:
            if existing.source_hash != definition.source_hash:
                raise DefinitionError(
                    f"workflow {definition.name!r} version {definition.version!r} is already registered with "
                    "different source; definitions are immutable, register a new version"
                )
            return existing
        self._by_key[key] = definition
        self._latest[definition.name] = definition.version
        return definition

    def get(self, name: str, version: str | None = None) -> WorkflowDefinition:
        """The definition of ``name`` (latest version unless ``version`` is given)."""
        if name not in self._latest:
            known = ", ".join(self.names()) or "none"
            raise DefinitionError(f"unknown workflow {name!r}; known workflows: {known}")
        chosen = version or self._latest[name]
        try:
            return self._by_key[(name, chosen)]
        except KeyError:
            versions = ", ".join(v for n, v in self._by_key if n == name)
            raise DefinitionError(f"workflow {name!r} has no version {chosen!r}; versions: {versions}") from None

    def names(self) -> list[str]:
        """Registered workflow names, sorted."""
        return sorted(self._latest)

    def all(self) -> list[WorkflowDefinition]:
        """Every registered definition, sorted by name and version."""
        return [self._by_key[k] for k in sorted(self._by_key)]


registry = DefinitionRegistry()
"""The process-wide registry the node and the testbed manager use."""

registry.register(
    WorkflowDefinition(
        name="stf_datataking",
        version="1.0",
        function=stf_datataking,
        parameter_model=DaqParameters,
        description=(
            "Simulates the ePIC DAQ state machine for one run: run_imminent, start_run, stf_gen every "
            "stf_interval during physics periods, pause_run/resume_run between periods, end_run. "
            "Configs: fast_processing_default, stf_processing_default."
        ),
    )
)


def get_definition(name: str, version: str | None = None) -> WorkflowDefinition:
    """A definition from :data:`registry`; the error lists the known names."""
    return registry.get(name, version)
