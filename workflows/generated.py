"""A node's generated workflows: one directory per namespace and name, kept in the store too.

``spec_generate`` writes a workflow's files into :func:`generated_dir` (``<root>/<namespace>/<name>``,
``root`` being ``STATE_DIR/generated``); :func:`register_generated` loads it, registers the
definition in the caller's namespace (never as a built-in) and stores the definition WITH its
files (configs, ``agents.toml``, the module, README, stage scripts), so the store is the truth.
At node start :func:`restore_generated` writes the latest registered version of every
namespace's workflows back into their directories and registers them again: a node restart, or
a lost state directory, loses no registered workflow.

Example::

    directory = generated_dir(state_dir / "generated", "alice", "fl_workflow")
    definition, configs = await register_generated(store, directory, namespace="alice", registered_by="alice")
    ...
    restored = await restore_generated(store, state_dir / "generated")   # at the next start
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from workflows.definitions import DefinitionRegistry, WorkflowDefinition, reserved_names
from workflows.definitions import registry as default_registry
from workflows.errors import DefinitionError
from workflows.limits import Limits

__all__ = ["GENERATED_DIR", "generated_dir", "read_files", "register_generated", "restore_generated", "write_files"]

log = logging.getLogger(__name__)

GENERATED_DIR = "generated"
"""Sub-directory of the node's state directory: ``generated/<namespace>/<name>/``."""

_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_SKIPPED = ("runs", "__pycache__")


def generated_dir(root: Path, namespace: str, name: str) -> Path:
    """``root/<namespace>/<name>``: where one namespace's generated workflow lives.

    Both parts are checked (a namespace, a workflow name), so the path never leaves ``root``.

    >>> generated_dir(Path("/s/generated"), "alice", "fl_workflow")
    PosixPath('/s/generated/alice/fl_workflow')
    """
    if not _NAMESPACE.match(namespace):
        raise DefinitionError(f"namespace: {namespace!r} is not a namespace (lowercase letters, digits, '_', '-')")
    if not _NAME.match(name):
        raise DefinitionError(f"name: {name!r} is not a workflow name (letters, digits, '_'; not starting with a digit)")
    return Path(root) / namespace / name


def read_files(directory: Path, max_bytes: int) -> dict[str, str]:
    """The generated workflow's files: every regular top-level file (not ``runs/``), name -> text."""
    files: dict[str, str] = {}
    total = 0
    for path in sorted(Path(directory).iterdir()):
        if path.name in _SKIPPED or path.name.startswith(".") or not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        total += len(data)
        if total > max_bytes:
            from workflows.limits import LimitExceeded

            raise LimitExceeded("name", total, "max_generated_bytes", max_bytes,
                                what=f"bytes of files in generated/{directory.parent.name}/{directory.name}")
        files[path.name] = data.decode("utf-8", errors="replace")
    return files


def write_files(directory: Path, files: dict[str, str]) -> None:
    """Write ``files`` (plain names only) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if Path(name).name != name or name.startswith(".") or name in _SKIPPED:
            raise DefinitionError(f"files: {name!r} is not a plain file name")
        (directory / name).write_text(text, encoding="utf-8")


def configs_of(directory: Path) -> list[str]:
    """The config names a generated workflow's directory offers (its TOMLs but agents.toml)."""
    return sorted(p.stem for p in Path(directory).glob("*.toml") if p.name != "agents.toml")


def load_definition(directory: Path) -> WorkflowDefinition:
    """Import the generated module of ``directory`` and return its definition (named like the directory)."""
    from workflows.spec.generate import load_generated

    where = f"generated/{directory.parent.name}/{directory.name}"
    try:
        definition: WorkflowDefinition = load_generated(directory).definition
    except Exception as exc:  # noqa: BLE001 - a broken generated module is the caller's to fix
        raise DefinitionError(f"name: {where} does not load ({type(exc).__name__}: {exc}); "
                              "run spec_generate again") from None
    if definition.name != directory.name:
        raise DefinitionError(f"name: {where} defines workflow {definition.name!r}; register it as "
                              f"{definition.name!r} or generate again")
    return definition


async def register_generated(
    store: Any,
    directory: Path,
    *,
    namespace: str,
    registered_by: str | None = None,
    limits: Limits | None = None,
    registry: DefinitionRegistry | None = None,
) -> WorkflowDefinition:
    """Register the generated workflow in ``directory`` in ``namespace``: the store (with its files), then the registry.

    Refuses a reserved (built-in) name and a changed source under a registered version, before
    anything is written.
    """
    from workflows.definitions import ReservedName

    reg = registry or default_registry
    if directory.name in reserved_names(reg):  # refused before its code is even imported
        raise ReservedName(directory.name, namespace)
    if not directory.is_dir():
        parent = directory.parent
        known = ", ".join(sorted(p.name for p in parent.iterdir() if p.is_dir())) if parent.is_dir() else "none"
        raise DefinitionError(f"name: no generated workflow {directory.name!r} in namespace {namespace!r} on this "
                              f"node (generated: {known}); call spec_generate first")
    definition = load_definition(directory)
    try:
        _scope, existing = reg.resolve(definition.name, definition.version, namespace)
    except DefinitionError:
        existing = None
    if existing is not None and _scope == namespace and existing.source_hash != definition.source_hash:
        from workflows.store.errors import DefinitionConflict

        raise DefinitionConflict(definition.name, definition.version, existing.source_hash, definition.source_hash)
    files = read_files(directory, (limits or Limits()).max_generated_bytes)
    await store.definitions.register(definition.name, definition.version, definition.source,
                                     definition.parameter_schema(), definition.description,
                                     namespace=namespace, files=files, registered_by=registered_by)
    return reg.register(definition, namespace=namespace)


async def restore_generated(store: Any, root: Path, registry: DefinitionRegistry | None = None) -> list[tuple[str, str, str]]:
    """Write back and register every namespace's latest registered generated workflows; returns
    ``(namespace, name, version)`` of each. One that no longer loads is logged and skipped."""
    reg = registry or default_registry
    latest: dict[tuple[str, str], Any] = {}
    for record in await store.definitions.generated():  # oldest first: the last one wins
        latest[(record.namespace, record.name)] = record
    restored: list[tuple[str, str, str]] = []
    for (namespace, name), record in sorted(latest.items()):
        try:
            directory = generated_dir(root, namespace, name)
            write_files(directory, record.files or {})
            definition = load_definition(directory)
            if (definition.name, definition.version, definition.source_hash) != (name, record.version, record.source_hash):
                raise DefinitionError(f"the stored files define {definition.name} {definition.version}, "
                                      f"not {name} {record.version} with the stored source")
            reg.register(definition, namespace=namespace)
        except Exception as exc:  # noqa: BLE001 - one broken workflow must not stop the node
            log.warning("generated workflow %s/%s %s not restored: %s: %s", namespace, name, record.version,
                        type(exc).__name__, exc)
            continue
        restored.append((namespace, name, record.version))
    if restored:
        log.info("restored %d generated workflow(s) from the store", len(restored))
    return restored
