"""Workflow configs: TOML files with includes, merged, overridden and validated.

A config lives in a workflows directory (ours: ``workflows/configs/``) and is named with or
without ``.toml``. Expansion, in order, each step deep-merging tables (values and lists replace):

1. ``[workflow] includes = [...]`` load in list order, recursively; a later include overrides an
   earlier one and the including file has the final say.
2. testbed.toml (if given) overrides: its ``[testbed]`` table (namespace) and any section values;
   its ``[parameters]`` table is a flat override of the effective parameters; its ``[workflow]``
   and ``[agents]`` tables describe the testbed launch and are read by :func:`load_testbed`.
3. Caller parameters (a flat dict, ``None`` = no override) override everything.

The effective parameters are ``[daq_state_machine]`` + the workflow section (``[fast_processing]``
or ``[stf_processing]``) + steps 2 and 3, validated by that section's model in
:mod:`workflows.params`.

Example::

    >>> cfg = expand_config("fast_processing_default", parameters={"stf_count": 5})
    >>> cfg.parameters.stf_count, cfg.section, len(cfg.config_hash)
    (5, 'fast_processing', 64)
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, ValidationInfo, field_validator

from workflows.errors import (
    ConfigNotFoundError,
    ConfigPathError,
    ConfigStructureError,
    ConfigSyntaxError,
    IncludeCycleError,
    ParameterValueError,
    UnknownParameterError,
)
from workflows.params import SECTION_MODELS, WORKFLOW_SECTIONS, DaqParameters, SectionName

DEFAULT_WORKFLOWS_DIR = Path(__file__).parent / "configs"
"""The configs shipped with controlroom."""

WORKFLOW_KEYS = ("name", "version", "description", "includes")
TESTBED_KEYS = ("namespace", "description")
TESTBED_LAUNCH_TABLES = ("workflow", "agents", "parameters")
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"

Origins = dict[str, str]
"""Dotted key -> the file (relative name) that set its final value."""


class TestbedSection(BaseModel):
    """The ``[testbed]`` table of testbed.toml."""

    model_config = ConfigDict(strict=True, extra="forbid")

    namespace: str | None = Field(None, pattern=NAMESPACE_PATTERN, description="namespace of this testbed's workflows, agents and messages")
    description: str | None = None


class TestbedWorkflow(BaseModel):
    """The ``[workflow]`` table of testbed.toml: what ``testbed run`` starts by default."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = "stf_datataking"
    config: str = "fast_processing_default"
    realtime: bool = True


class TestbedFile(BaseModel):
    """testbed.toml as a whole; ``agents`` entries are passed through to the testbed manager."""

    model_config = ConfigDict(strict=True)

    testbed: TestbedSection = TestbedSection()
    workflow: TestbedWorkflow = TestbedWorkflow()
    agents: dict[str, dict[str, Any]] = {}
    parameters: dict[str, Any] = {}
    overrides: dict[str, Any] = Field(default_factory=dict, description="other tables: section values merged over the workflow config")


ConfigKind = Literal["daq", "task"]

TASK_TABLES = ("workflow", "parameters", "tasks", "stages", "agents")
"""The tables of a generated task workflow's config (see :mod:`workflows.tasks.config`)."""


class TaskParameterValues(BaseModel):
    """A task workflow's parameters read back from a stored config (the values, without their model)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class ExpandedConfig(BaseModel):
    """A fully expanded config: what an execution stores so it needs no file to be replayed."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="config name, without .toml")
    workflow_name: str | None = Field(description="[workflow] name: the workflow definition to run")
    workflow_version: str | None = None
    section: SectionName | None = Field(description="the workflow section that selected the parameter model")
    kind: ConfigKind = Field("daq", description="'daq': a DAQ config (sections); 'task': a generated task workflow's config")
    directory: str | None = Field(None, description="task configs: the generated workflow's directory (its config and module)")
    namespace: str | None = None
    files: list[str] = Field(description="files read, in merge order (includes first, testbed.toml last)")
    merged: dict[str, Any] = Field(description="all tables merged, with the effective parameters written into the parameter section")
    parameters: SerializeAsAny[BaseModel] = Field(description="the validated parameter model (the section's, or the task workflow's own)")
    overrides: dict[str, Any] = Field(description="flat overrides applied from testbed.toml [parameters] and the caller")
    config_hash: str = Field(description="sha256 of the canonical JSON of merged + parameters")

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters_by_section(cls, value: Any, info: ValidationInfo) -> Any:
        """Read stored parameters back with the model of their section (task configs: as stored)."""
        if isinstance(value, Mapping) and info.data.get("kind") == "task":
            return TaskParameterValues.model_validate(dict(value))
        if isinstance(value, Mapping):
            return SECTION_MODELS[info.data.get("section") or "daq_state_machine"].model_validate(dict(value))
        return value


def config_names(workflows_dir: Path = DEFAULT_WORKFLOWS_DIR) -> list[str]:
    """Names (without .toml) of the configs in a workflows directory, sorted, testbed.toml excluded."""
    root = workflows_dir.resolve()
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.toml") if p.name != "testbed.toml")


def expand_config(
    config: str,
    *,
    workflows_dir: Path = DEFAULT_WORKFLOWS_DIR,
    testbed: str | None = "testbed.toml",
    parameters: Mapping[str, Any] | None = None,
    namespace: str | None = None,
    parameter_model: type[BaseModel] | None = None,
) -> ExpandedConfig:
    """Load ``config`` with its includes, apply testbed.toml and ``parameters``, validate everything.

    ``testbed=None`` skips testbed.toml; ``namespace`` overrides the testbed's namespace.
    ``parameter_model`` (a generated task workflow's own model) selects a task config: its
    ``[parameters]`` table plus ``parameters`` are validated by that model, testbed.toml is not
    read (its overrides are DAQ parameters), and ``kind`` is ``"task"``.
    Raises a :class:`workflows.errors.ConfigError` subclass naming the file or field at fault.
    """
    root = workflows_dir.resolve()
    name = _strip_suffix(config)
    if parameter_model is not None:
        return _expand_task_config(name, root, parameter_model, parameters or {}, namespace)
    origins: Origins = {}
    merged, files = load_tree(name, root, stack=[], origins=origins, included_from=None)
    merged.get("workflow", {}).pop("includes", None)

    testbed_file: TestbedFile | None = None
    if testbed is not None:
        testbed_file = load_testbed(workflows_dir, testbed)
        tb_name = _file_name(root / _with_suffix(testbed), root)
        files.append(tb_name)
        tb_tables = _testbed_tables(testbed_file, merged, tb_name)
        tb_tables["testbed"] = testbed_file.testbed.model_dump(exclude_none=True)
        merged = _deep_merge(merged, tb_tables, origins, tb_name)
    _check_tables(merged, origins)

    section = _workflow_section(merged, origins)
    overrides: dict[str, Any] = {}
    flat_sources: dict[str, str] = {}
    if testbed_file is not None:
        for key, value in testbed_file.parameters.items():
            overrides[key] = value
            flat_sources[key] = f"{files[-1]} [parameters]"
    for key, value in (parameters or {}).items():
        if value is not None:
            overrides[key] = value
            flat_sources[key] = "caller parameters"

    effective = _effective_parameters(merged, section, overrides, origins, flat_sources)
    target = section or "daq_state_machine"
    merged.setdefault(target, {}).update(overrides)

    ns = namespace if namespace is not None else merged.get("testbed", {}).get("namespace")
    if namespace is not None:
        _check_namespace(namespace)
        merged.setdefault("testbed", {})["namespace"] = namespace
    workflow = merged.get("workflow", {})
    params_json = effective.model_dump(mode="json")
    digest = hashlib.sha256(canonical_json({"config": merged, "parameters": params_json}).encode()).hexdigest()
    return ExpandedConfig(
        name=name,
        workflow_name=workflow.get("name"),
        workflow_version=workflow.get("version"),
        section=section,
        namespace=ns,
        files=files,
        merged=merged,
        parameters=effective,
        overrides=overrides,
        config_hash=digest,
    )


def _expand_task_config(
    name: str, root: Path, model: type[BaseModel], parameters: Mapping[str, Any], namespace: str | None
) -> ExpandedConfig:
    """A generated task workflow's config: ``[parameters]`` + caller overrides, validated by ``model``."""
    origins: Origins = {}
    merged, files = load_tree(name, root, stack=[], origins=origins, included_from=None)
    for table, value in merged.items():
        source = origins.get(table) or _first_origin(origins, f"{table}.")
        if table not in TASK_TABLES:
            raise ConfigStructureError(f"{source}: unknown table [{table}] in a task workflow config; "
                                       f"known tables: {', '.join(TASK_TABLES)}")
        if not isinstance(value, dict):
            raise ConfigStructureError(f"{source}: '{table}' must be a table ([{table}]), got a {type(value).__name__}")
    _check_workflow_table(merged, origins)
    valid = sorted(model.model_fields)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in merged.get("parameters", {}).items():
        src = origins.get(f"parameters.{key}", "?")
        if key not in model.model_fields:
            raise UnknownParameterError(f"parameters.{key}", valid, source=src)
        values[key], sources[key] = value, f"{src} [parameters]"
    overrides: dict[str, Any] = {}
    for key, value in parameters.items():
        if value is None:
            continue
        if key not in model.model_fields:
            raise UnknownParameterError(key, valid, source="caller parameters")
        values[key] = overrides[key] = value
        sources[key] = "caller parameters"
    try:
        effective = model.model_validate(values, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "parameters"
        allowed = allowed_range(model, field) if field in model.model_fields else "see the message"
        raise ParameterValueError(field, err["msg"], allowed=allowed, value=err.get("input"),
                                  source=sources.get(field)) from None
    _check_task_tables(merged, origins)
    merged.setdefault("parameters", {}).update(overrides)
    if namespace is not None:
        _check_namespace(namespace)
        merged["testbed"] = {"namespace": namespace}
    workflow = merged.get("workflow", {})
    params_json = effective.model_dump(mode="json")
    digest = hashlib.sha256(canonical_json({"config": merged, "parameters": params_json}).encode()).hexdigest()
    return ExpandedConfig(
        name=name, workflow_name=workflow.get("name"), workflow_version=workflow.get("version"), section=None,
        kind="task", directory=str(root), namespace=namespace, files=files, merged=merged, parameters=effective,
        overrides=overrides, config_hash=digest,
    )


def _check_task_tables(merged: dict[str, Any], origins: Origins) -> None:
    """The failure policy and worker tables of a task config, validated by their own models."""
    from workflows.tasks.config import TaskConfig  # the task engine's config schema

    try:
        TaskConfig.model_validate({k: v for k, v in merged.items() if k != "testbed"})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"])
        source = origins.get(field) or _first_origin(origins, str(err["loc"][0]) if err["loc"] else "")
        raise ParameterValueError(field, err["msg"], allowed="see docs/tasks.md", value=err.get("input"),
                                  source=source) from None


def _testbed_tables(testbed_file: TestbedFile, merged: dict[str, Any], label: str) -> dict[str, Any]:
    """The section tables of testbed.toml that apply to this config.

    A section of another workflow flavour (``[fast_processing]`` while running an
    ``[stf_processing]`` config) does not apply and is skipped; an unknown table is an error.
    """
    known = ("workflow", "testbed", *SECTION_MODELS)
    tables: dict[str, Any] = {}
    for table, value in testbed_file.overrides.items():
        if table not in known:
            raise ConfigStructureError(f"{label}: unknown table [{table}]; known tables: {', '.join(known)}")
        if table in WORKFLOW_SECTIONS and table not in merged and any(s in merged for s in WORKFLOW_SECTIONS):
            continue
        tables[table] = value
    return tables


def load_testbed(workflows_dir: Path = DEFAULT_WORKFLOWS_DIR, name: str = "testbed.toml") -> TestbedFile:
    """Read and validate testbed.toml (namespace, default workflow, agents, parameter overrides)."""
    root = workflows_dir.resolve()
    path = _resolve(_strip_suffix(name), root, included_from=None)
    label = _file_name(path, root)
    data = _read_toml(path, label)
    tables = {k: v for k, v in data.items() if k not in ("testbed", *TESTBED_LAUNCH_TABLES)}
    known = {k: data[k] for k in ("testbed", *TESTBED_LAUNCH_TABLES) if k in data}
    try:
        return TestbedFile.model_validate({**known, "overrides": tables})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            table = str(err["loc"][0])
            valid = TESTBED_KEYS if table == "testbed" else tuple(TestbedWorkflow.model_fields)
            raise UnknownParameterError(field, list(valid), source=label) from None
        raise ParameterValueError(field, err["msg"], allowed=_allowed_for_testbed(field), value=err.get("input"), source=label) from None


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, UTF-8 kept): the input of every config hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# files and includes


def _strip_suffix(name: str) -> str:
    return name[: -len(".toml")] if name.endswith(".toml") else name


def _with_suffix(name: str) -> str:
    return name if name.endswith(".toml") else f"{name}.toml"


def _file_name(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def _resolve(name: str, root: Path, *, included_from: str | None) -> Path:
    candidate = Path(_with_suffix(name))
    if candidate.is_absolute() or ".." in candidate.parts:
        raise ConfigPathError(name, root, included_from=included_from)
    path = (root / candidate).resolve()
    if not path.is_relative_to(root):
        raise ConfigPathError(name, root, included_from=included_from)
    if not path.is_file():
        available = config_names(root) if root.is_dir() else []
        raise ConfigNotFoundError(_with_suffix(name), root, available, included_from=included_from)
    return path


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else None
        raise ConfigSyntaxError(label, line, str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ConfigSyntaxError(label, None, f"not UTF-8 text ({exc.reason})") from None


def load_tree(
    name: str, root: Path, *, stack: list[Path], origins: Origins, included_from: str | None
) -> tuple[dict[str, Any], list[str]]:
    """Config ``name`` of directory ``root`` with its includes merged, and the files read in merge order.

    ``origins`` collects which file set each dotted key; ``stack`` holds the includers (cycle check).
    """
    path = _resolve(name, root, included_from=included_from)
    label = _file_name(path, root)
    if path in stack:
        cycle = [_file_name(p, root) for p in stack[stack.index(path) :]] + [label]
        raise IncludeCycleError(cycle)
    data = _read_toml(path, label)
    workflow = data.get("workflow", {})
    if not isinstance(workflow, dict):
        raise ConfigStructureError(f"{label}: 'workflow' must be a table ([workflow]), got {type(workflow).__name__}")
    includes = workflow.get("includes", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigStructureError(f"{label}: [workflow] includes must be a list of config names, got {includes!r}")

    merged: dict[str, Any] = {}
    files: list[str] = []
    for include in includes:
        sub, sub_files = load_tree(include, root, stack=[*stack, path], origins=origins, included_from=label)
        merged = _deep_merge(merged, sub, origins, None)
        files.extend(f for f in sub_files if f not in files)
    own = {k: v for k, v in data.items()}
    if "workflow" in own:
        own["workflow"] = {k: v for k, v in workflow.items() if k != "includes"}
    merged = _deep_merge(merged, own, origins, label)
    files.append(label)
    return merged, files


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any], origins: Origins, label: str | None, prefix: str = "") -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``: tables merge recursively, anything else replaces.

    ``label`` records the file that set each leaf; ``None`` means the origins were already
    recorded while loading ``over`` (an include merged into its includer).
    """
    result = dict(base)
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        old = result.get(key)
        if isinstance(value, Mapping):
            if key in result and not isinstance(old, dict):
                raise ConfigStructureError(
                    f"{label or origins.get(dotted, '?')}: '{dotted}' is a table here but a value in {origins.get(dotted, 'an earlier file')}"
                )
            result[key] = _deep_merge(old or {}, value, origins, label, f"{dotted}.")
            if label is not None:
                origins[dotted] = label
        else:
            if isinstance(old, dict):
                raise ConfigStructureError(
                    f"{label or origins.get(dotted, '?')}: '{dotted}' is a value here but a table in an earlier file"
                )
            result[key] = value
            if label is not None:
                origins[dotted] = label
    return result


# ---------------------------------------------------------------------------------------------
# validation


def _check_tables(merged: dict[str, Any], origins: Origins) -> None:
    known = ("workflow", "testbed", *SECTION_MODELS)
    for table, value in merged.items():
        source = origins.get(table) or _first_origin(origins, f"{table}.")
        if table not in known:
            raise ConfigStructureError(f"{source}: unknown table [{table}]; known tables: {', '.join(known)}")
        if not isinstance(value, dict):
            raise ConfigStructureError(f"{source}: '{table}' must be a table ([{table}]), got a {type(value).__name__}")
    _check_workflow_table(merged, origins)
    namespace = merged.get("testbed", {}).get("namespace")
    if namespace is not None:
        _check_namespace(namespace, origins.get("testbed.namespace"))


def _check_workflow_table(merged: dict[str, Any], origins: Origins) -> None:
    for key in merged.get("workflow", {}):
        if key not in WORKFLOW_KEYS:
            raise UnknownParameterError(f"workflow.{key}", [f"workflow.{k}" for k in WORKFLOW_KEYS], source=origins.get(f"workflow.{key}"))
    for key in ("name", "version", "description"):
        value = merged.get("workflow", {}).get(key)
        if value is not None and not isinstance(value, str):
            raise ParameterValueError(f"workflow.{key}", "must be a string", allowed="a TOML string", value=value, source=origins.get(f"workflow.{key}"))


def _check_namespace(namespace: object, source: str | None = None) -> None:
    if not isinstance(namespace, str) or not re.fullmatch(NAMESPACE_PATTERN, namespace):
        raise ParameterValueError(
            "testbed.namespace",
            "not a valid namespace",
            allowed="1-63 characters of a-z 0-9 . _ -, starting with a letter or digit",
            value=namespace,
            source=source,
        )


def _first_origin(origins: Origins, prefix: str) -> str:
    return next((src for key, src in origins.items() if key.startswith(prefix)), "?")


def _workflow_section(merged: dict[str, Any], origins: Origins) -> SectionName | None:
    present = [s for s in WORKFLOW_SECTIONS if s in merged]
    if len(present) > 1:
        where = ", ".join(f"[{s}] in {origins.get(s) or _first_origin(origins, s + '.')}" for s in present)
        raise ConfigStructureError(f"a config may carry only one workflow section, found {where}; keep one")
    return present[0] if present else None


def _effective_parameters(
    merged: dict[str, Any],
    section: SectionName | None,
    overrides: dict[str, Any],
    origins: Origins,
    flat_sources: dict[str, str],
) -> DaqParameters:
    model = SECTION_MODELS[section or "daq_state_machine"]
    valid = sorted(model.model_fields)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for table in ("daq_state_machine", section):
        if table is None:
            continue
        table_model = SECTION_MODELS[table]
        for key, value in merged.get(table, {}).items():
            src = origins.get(f"{table}.{key}", "?")
            if key not in table_model.model_fields:
                raise UnknownParameterError(f"{table}.{key}", sorted(table_model.model_fields), source=src)
            values[key] = value
            sources[key] = f"{src} [{table}]"
    for key, value in overrides.items():
        if key not in model.model_fields:
            raise UnknownParameterError(key, valid, source=flat_sources.get(key))
        values[key] = value
        sources[key] = flat_sources[key]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a cross-field rule of the model
            raise ParameterValueError(
                _cross_field_name(err["msg"], valid), err["msg"].removeprefix("Value error, "), allowed="see the message", value=None
            ) from None
        field = str(err["loc"][0])
        raise ParameterValueError(
            field, err["msg"], allowed=allowed_range(model, field), value=err.get("input"), source=sources.get(field)
        ) from None


def _cross_field_name(message: str, valid: list[str]) -> str:
    for word in re.findall(r"[a-z_]+", message):
        if word in valid:
            return word
    return "parameters"


def allowed_range(model: type[BaseModel], field: str) -> str:
    """A readable description of a field's type and bounds, e.g. ``'integer >= 0'``."""
    info = model.model_fields[field]
    kind = {int: "integer", float: "number", str: "string", bool: "boolean"}.get(info.annotation, str(info.annotation))  # type: ignore[arg-type]
    bounds = []
    for meta in info.metadata:
        for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                bounds.append(f"{op} {getattr(meta, attr)}")
    return f"{kind} {' and '.join(bounds)}".strip()


def _allowed_for_testbed(field: str) -> str:
    if field == "testbed.namespace":
        return "1-63 characters of a-z 0-9 . _ -, starting with a letter or digit"
    if field.startswith("workflow.realtime"):
        return "true or false"
    return "see testbed.toml in docs/workflows.md"
