"""The registry of workflow definitions: name, version, code, parameter model, source hash.

Definitions are immutable: registering the same name and version again with different source is
refused. Every definition lives in one *scope*: the built-ins (registered in :data:`registry` on
import, shipped with the node) or one namespace (a generated workflow a tenant registered).
A namespace sees its own definitions and the built-ins, never another namespace's: a lookup
resolves the name in the namespace first, then among the built-ins. Built-in names (and the
names of the shipped configs) are reserved: a namespace cannot register one.

Example::

    >>> d = get_definition("stf_datataking")
    >>> d.version, d.parameter_model.__name__, len(d.source_hash)
    ('1.0', 'DaqParameters', 64)
    >>> registry.names()
    ['stf_datataking']
    >>> "stf_datataking" in reserved_names()
    True
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


Scope = str | None
"""Where a definition lives: a namespace, or None for the built-ins."""


class ReservedName(DefinitionError):
    """A namespace tried to register a built-in name (a shipped workflow or config)."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__(
            f"name: {name!r} is a built-in workflow or config name of this node and is reserved, so namespace "
            f"{namespace!r} cannot register it; rename the spec (its '# SPEC: <name>' line, e.g. "
            f"'{namespace}-{name.replace('_', '-')}') and run spec_generate again"
        )
        self.name = name
        self.namespace = namespace


class DefinitionRegistry:
    """Workflow definitions by scope, name and version; the latest registered version is the default.

    Example::

        reg = DefinitionRegistry()
        reg.register(builtin)                       # a built-in (scope None)
        reg.register(generated, namespace="alice")  # only alice sees it
        reg.get(generated.name, namespace="alice")  # found
        reg.get(generated.name, namespace="bob")    # DefinitionError: unknown workflow
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[Scope, str, str], WorkflowDefinition] = {}
        self._latest: dict[tuple[Scope, str], str] = {}

    def register(self, definition: WorkflowDefinition, namespace: Scope = None) -> WorkflowDefinition:
        """Add a definition to ``namespace`` (None: the built-ins).

        The same scope+name+version again is accepted only with identical source; a namespace
        cannot take a reserved (built-in) name.
        """
        if namespace is not None and definition.name in reserved_names(self):
            raise ReservedName(definition.name, namespace)
        key = (namespace, definition.name, definition.version)
        existing = self._by_key.get(key)
        if existing is not None:
            if existing.source_hash != definition.source_hash:
                raise DefinitionError(
                    f"workflow {definition.name!r} version {definition.version!r} is already registered with "
                    "different source; definitions are immutable, register a new version"
                )
            return existing
        self._by_key[key] = definition
        self._latest[(namespace, definition.name)] = definition.version
        return definition

    def get(self, name: str, version: str | None = None, namespace: Scope = None) -> WorkflowDefinition:
        """The definition of ``name`` as ``namespace`` sees it (its own first, then the built-ins).

        The latest version unless ``version`` is given. Another namespace's definitions are
        not visible: asking for one is an unknown workflow.
        """
        return self.resolve(name, version, namespace)[1]

    def resolve(self, name: str, version: str | None = None, namespace: Scope = None) -> tuple[Scope, WorkflowDefinition]:
        """Like :meth:`get`, with the scope the definition was found in (``namespace`` or None)."""
        for scope in _scopes(namespace):
            if (scope, name) not in self._latest:
                continue
            chosen = version or self._latest[(scope, name)]
            try:
                return scope, self._by_key[(scope, name, chosen)]
            except KeyError:
                versions = ", ".join(v for s, n, v in self._by_key if s == scope and n == name)
                raise DefinitionError(f"workflow {name!r} has no version {chosen!r}; versions: {versions}") from None
        known = ", ".join(self.names(namespace)) or "none"
        raise DefinitionError(f"unknown workflow {name!r}; known workflows: {known}")

    def names(self, namespace: Scope = None) -> list[str]:
        """Workflow names ``namespace`` sees (the built-ins when None), sorted."""
        return sorted({n for s, n in self._latest if s in _scopes(namespace)})

    def all(self, namespace: Scope = None) -> list[WorkflowDefinition]:
        """Every definition ``namespace`` sees (the built-ins when None), sorted by name and version."""
        return [d for _, d in self.entries(namespace)]

    def entries(self, namespace: Scope = None, *, every_namespace: bool = False) -> list[tuple[Scope, WorkflowDefinition]]:
        """``(scope, definition)`` pairs ``namespace`` sees, or of every scope with ``every_namespace``."""
        scopes = _scopes(namespace)
        keys = sorted((k for k in self._by_key if every_namespace or k[0] in scopes),
                      key=lambda k: (k[1], k[0] or "", k[2]))
        return [(k[0], self._by_key[k]) for k in keys]

    def builtin_names(self) -> list[str]:
        """Names of the built-in definitions, sorted."""
        return self.names(None)

    def forget_namespaces(self) -> None:
        """Drop every namespace's definitions, keeping the built-ins (a node reloads them from its store)."""
        for key in [k for k in self._by_key if k[0] is not None]:
            del self._by_key[key]
        for key in [k for k in self._latest if k[0] is not None]:
            del self._latest[key]


def _scopes(namespace: Scope) -> tuple[Scope, ...]:
    return (namespace, None) if namespace is not None else (None,)


def reserved_names(reg: DefinitionRegistry | None = None) -> frozenset[str]:
    """Names no namespace may register: the built-in definitions and the shipped config names."""
    from workflows.config import DEFAULT_WORKFLOWS_DIR

    shipped = {path.stem for path in DEFAULT_WORKFLOWS_DIR.glob("*.toml")}
    return frozenset((reg or registry).builtin_names()) | frozenset(shipped)


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


def get_definition(name: str, version: str | None = None, namespace: Scope = None) -> WorkflowDefinition:
    """A definition from :data:`registry` as ``namespace`` sees it; the error lists the known names."""
    return registry.get(name, version, namespace)
