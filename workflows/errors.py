"""Errors of the workflow engine: configs, parameters, definitions and the executor.

The hierarchy::

    WorkflowError                    anything the workflow engine refuses or cannot do
    ├── ConfigError                  a workflow config cannot be turned into an ExpandedConfig
    │   ├── ConfigNotFoundError      a config or include file does not exist (lists what does)
    │   ├── ConfigPathError          a name or include escapes the workflows directory
    │   ├── ConfigSyntaxError        a file is not valid TOML (carries file and line)
    │   ├── IncludeCycleError        includes loop back on themselves (carries the cycle)
    │   ├── ConfigStructureError     a table where a value belongs, an unknown table, a bad include list
    │   └── ParameterError           a parameter value is refused
    │       ├── UnknownParameterError    a name no parameter model knows (lists the valid ones)
    │       └── ParameterValueError      wrong type or out of range (names the field and the range)
    ├── DefinitionError              a workflow definition is unknown or registered twice
    └── ExecutionError               the executor was asked something it cannot do (bad mode, run twice)

Workflow code that fails while it runs is *not* wrapped in these: the executor reports it in
``ExecutionOutcome.error``. The gateway and the node translate these classes to tool errors at
their edge; every message names the field or file at fault and says how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class WorkflowError(Exception):
    """Base class of every error raised by the workflow engine."""


class ConfigError(WorkflowError):
    """A workflow config cannot be loaded, merged or validated."""


class ConfigNotFoundError(ConfigError):
    """A config or an include names a file that is not in the workflows directory."""

    def __init__(self, name: str, directory: Path, available: list[str], *, included_from: str | None = None) -> None:
        self.name = name
        self.directory = directory
        self.available = available
        where = f" (included from {included_from})" if included_from else ""
        known = ", ".join(available) if available else "none"
        # the directory stays an attribute (the CLI may show it), not in the text: the text reaches
        # MCP clients through the node, and a node's filesystem layout is none of a tenant's business
        super().__init__(f"config {name!r}{where} not found; available configs: {known}")


class ConfigPathError(ConfigError):
    """A config name or include resolves outside the workflows directory."""

    def __init__(self, name: str, directory: Path, *, included_from: str | None = None) -> None:
        self.name = name
        self.directory = directory
        where = f" (included from {included_from})" if included_from else ""
        super().__init__(
            f"config {name!r}{where} resolves outside the workflows directory; "
            "name configs relative to that directory, without '..' or absolute paths"
        )


class ConfigSyntaxError(ConfigError):
    """A file is not valid TOML."""

    def __init__(self, file: str, line: int | None, detail: str) -> None:
        self.file = file
        self.line = line
        self.detail = detail
        at = f"{file}:{line}" if line is not None else file
        super().__init__(f"{at}: invalid TOML: {detail}")


class IncludeCycleError(ConfigError):
    """Includes form a cycle; ``cycle`` lists the files from the first repeat back to itself."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(f"include cycle: {' -> '.join(cycle)}; remove one of these includes")


class ConfigStructureError(ConfigError):
    """The TOML parses but has the wrong shape (unknown table, value where a table belongs, ...)."""


class ParameterError(ConfigError):
    """A parameter (from a file, testbed.toml or the caller) is refused."""

    def __init__(self, message: str, *, field: str, source: str | None = None) -> None:
        self.field = field
        self.source = source
        super().__init__(message)


class UnknownParameterError(ParameterError):
    """A parameter name that the parameter model does not define."""

    def __init__(self, field: str, valid: list[str], *, source: str | None = None) -> None:
        self.valid = valid
        origin = f" (set in {source})" if source else ""
        super().__init__(
            f"unknown parameter {field!r}{origin}; valid parameters: {', '.join(valid)}",
            field=field,
            source=source,
        )


class ParameterValueError(ParameterError):
    """A parameter with the wrong type or a value out of its allowed range."""

    def __init__(self, field: str, detail: str, *, allowed: str, value: object, source: str | None = None) -> None:
        self.allowed = allowed
        self.value = value
        origin = f" (set in {source})" if source else ""
        super().__init__(
            f"parameter {field!r}{origin}: {detail}; got {value!r}; allowed: {allowed}",
            field=field,
            source=source,
        )


class DefinitionError(WorkflowError):
    """A workflow definition is unknown, or a registration would replace an existing one."""


class ExecutionError(WorkflowError):
    """The executor was misused: invalid limits, or an executor run twice."""
