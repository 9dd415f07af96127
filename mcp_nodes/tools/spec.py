"""Spec tools: check a SPEC.md, generate its task workflow on this node, register it to run.

The generated workflow lives in the node's state directory (``STATE_DIR/generated/<name>/``:
config, agents.toml, the definition module, README and the stage scripts). After
``register_workflow_definition(name)`` it is listed by ``list_workflow_definitions`` and runs with
``start_workflow(workflow=<name>, config=<name>)``; the testbed starts its task workers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from pydantic import Field

from mcp_nodes.auth import current_identity
from mcp_nodes.models import DefinitionInfo
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.params import CONTROL, READ_ONLY
from workflows.spec.generate import GenerationReport, generate_from_text, load_generated, workflow_name
from workflows.spec.parse import parse_spec
from workflows.spec.validate import SpecReport, validate_report

__all__ = ["GENERATED_DIR", "register"]

GENERATED_DIR = "generated"
"""Sub-directory of the node's state directory holding one directory per generated workflow."""

_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"

SpecText = Annotated[str, Field(
    min_length=1, max_length=500_000,
    description="the whole SPEC.md text (format controlroom-spec/1), starting with '# SPEC: <name>'")]
GeneratedName = Annotated[str, Field(
    pattern=_NAME_PATTERN,
    description="name of the generated workflow (letters, digits, '_'), e.g. 'fl_workflow': the directory "
                "under the node's generated/ and the workflow name start_workflow takes")]
Scripts = Annotated[dict[str, str] | None, Field(
    description="the stage scripts the spec's commands run, file name -> text, e.g. {'fl_tasks.py': '...'}; "
                "written beside the generated files before the dry run (plain file names only)")]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add spec_validate, spec_generate and register_workflow_definition to ``mcp``."""
    store = services.store
    root = Path(services.settings.state_dir) / GENERATED_DIR

    @mcp.tool(annotations=READ_ONLY)
    async def spec_validate(spec_text: SpecText) -> SpecReport:
        """Check a SPEC.md: every problem with its line number, code and message (errors and
        warnings). valid=true means spec_generate will accept it; fix the errors in order and
        call again."""
        current_identity()
        return validate_report(spec_text)

    @mcp.tool(annotations=CONTROL)
    async def spec_generate(
        spec_text: SpecText,
        name: Annotated[str | None, Field(
            pattern=_NAME_PATTERN,
            description="workflow name to generate; must be the spec's name with '-' as '_' (the default)")] = None,
        scripts: Scripts = None,
        dry_run: Annotated[bool, Field(description="run the workflow once in fast mode with its defaults and "
                                                    "check every automatic criterion (PASS/FAIL)")] = True,
    ) -> GenerationReport:
        """Generate the task workflow of a SPEC.md into this node (generated/<name>/), then dry-run
        it and evaluate the validation criteria. ok=false lists the spec problems or the failing
        criteria. On ok=true call register_workflow_definition(name), then start_workflow with
        workflow=<name> and config=<name>. Same spec, same files (a changed spec gets a new version)."""
        current_identity()
        report = validate_report(spec_text)
        if not report.valid:
            return GenerationReport(name=report.name, out_dir="", ok=False, problems=report.problems)
        generated = workflow_name(parse_spec(spec_text))
        if name is not None and name != generated:
            raise ToolError(f"name: the spec {report.name!r} generates workflow {generated!r}, not {name!r}; "
                            f"omit name or pass {generated!r} (rename the spec to change it)")
        out_dir = root / generated
        out_dir.mkdir(parents=True, exist_ok=True)
        for file_name, text in (scripts or {}).items():
            if Path(file_name).name != file_name or file_name.startswith("."):
                raise ToolError(f"scripts: {file_name!r} is not a plain file name; pass e.g. 'fl_tasks.py' "
                                "(scripts are written beside the generated files)")
            (out_dir / file_name).write_text(text, encoding="utf-8")
        return await asyncio.to_thread(generate_from_text, spec_text, out_dir, dry_run=dry_run)

    @mcp.tool(annotations=CONTROL)
    async def register_workflow_definition(name: GeneratedName) -> DefinitionInfo:
        """Register the workflow spec_generate wrote as generated/<name>/ so start_workflow can run it
        (and list_workflow_definitions shows it). Definitions are immutable: the same name and
        version with a different source is refused; change the SPEC.md and generate again (that
        bumps the version). Registering the same source again is a no-op."""
        current_identity()
        from workflows.definitions import registry
        from workflows.errors import DefinitionError
        from workflows.store.errors import DefinitionConflict

        directory = root / name
        if not directory.is_dir():
            known = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())) if root.is_dir() else "none"
            raise ToolError(f"name: no generated workflow {name!r} on this node (generated: {known}); "
                            "call spec_generate first")
        try:
            definition = load_generated(directory).definition
        except Exception as exc:  # noqa: BLE001 - a broken generated module is the caller's to fix
            raise ToolError(f"name: generated/{name} does not load ({type(exc).__name__}: {exc}); "
                            "run spec_generate again") from None
        if definition.name != name:
            raise ToolError(f"name: generated/{name} defines workflow {definition.name!r}; register it as "
                            f"{definition.name!r} or generate again")
        new_hash = definition.source_hash
        try:
            existing = registry.get(definition.name, definition.version)
        except DefinitionError:
            existing = None
        if existing is not None and existing.source_hash != definition.source_hash:
            raise ToolError(_conflict(definition.name, definition.version, existing.source_hash, new_hash))
        try:
            await store.definitions.register(definition.name, definition.version, definition.source,
                                             definition.parameter_schema(), definition.description)
        except DefinitionConflict as exc:
            raise ToolError(_conflict(exc.name, exc.version, exc.stored_hash, exc.new_hash)) from None
        registered = registry.register(definition)
        configs = sorted(p.stem for p in directory.glob("*.toml") if p.name != "agents.toml")
        return DefinitionInfo(name=registered.name, version=registered.version, description=registered.description,
                              source_hash=registered.source_hash, parameter_schema=registered.parameter_schema(),
                              configs=configs)


def _conflict(name: str, version: str, registered_hash: str, new_hash: str) -> str:
    return (f"name: workflow {name!r} version {version!r} is already registered with source hash "
            f"{registered_hash}, but generated/{name} now hashes to {new_hash}. Definitions are immutable: "
            "bump the version (change the SPEC.md and run spec_generate again, which gives a new version) "
            "instead of editing the generated files")
