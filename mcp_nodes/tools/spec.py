"""Spec tools: check a SPEC.md, generate its task workflow on this node, register it to run.

The generated workflow lives in the node's state directory, per namespace
(``STATE_DIR/generated/<namespace>/<name>/``: config, agents.toml, the definition module, README
and the stage scripts; :func:`workflows.generated.generated_dir`). After
``register_workflow_definition(name, namespace)`` it belongs to that namespace: its
``list_workflow_definitions`` shows it and its ``start_workflow(workflow=<name>, config=<name>)``
runs it (the testbed starts its task workers); other namespaces do not see it. The store keeps
the definition with its files, so it survives a node restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from pydantic import Field

import agents.tasks  # noqa: F401 - installs the task runtime spec_generate's dry run runs its tasks on
from mcp_nodes.auth import current_identity, visible_namespace
from mcp_nodes.contract.identity import Identity
from mcp_nodes.errors import BadArgument
from mcp_nodes.models import DefinitionInfo
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import CONTROL, READ_ONLY, NamespaceFilter
from workflows.generated import GENERATED_DIR, configs_of, generated_dir
from workflows.spec.generate import MARKER, GenerationReport, generate_from_text, workflow_name
from workflows.spec.parse import parse_spec
from workflows.spec.validate import SpecReport, validate_report
from workflows.tasks.sandbox import SandboxUnavailable

__all__ = ["GENERATED_DIR", "register", "target_namespace"]

_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"

SpecText = Annotated[str, Field(
    min_length=1, max_length=500_000,
    description="whole SPEC.md, starting '# SPEC: <name>'")]
GeneratedName = Annotated[str, Field(
    pattern=_NAME_PATTERN,
    description="spec_generate's name, e.g. 'fl_workflow'")]
Scripts = Annotated[dict[str, str] | None, Field(
    description="stage scripts: file name -> text")]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add spec_validate, spec_generate and register_workflow_definition to ``mcp``."""
    store = services.store
    root = Path(services.settings.state_dir) / GENERATED_DIR

    @mcp.tool(annotations=READ_ONLY)
    async def spec_validate(spec_text: SpecText) -> SpecReport:
        """Check a SPEC.md: each problem with line, code, message. valid=true: spec_generate accepts it."""
        current_identity()
        return validate_report(spec_text)

    @mcp.tool(annotations=CONTROL)
    async def spec_generate(
        spec_text: SpecText,
        name: Annotated[str | None, Field(
            pattern=_NAME_PATTERN,
            description="default: the spec's name, '-' as '_'")] = None,
        scripts: Scripts = None,
        dry_run: Annotated[bool, Field(description="run it once, check the criteria")] = True,
        namespace: NamespaceFilter = None,
    ) -> GenerationReport:
        """Generate a SPEC.md's task workflow for your namespace and dry-run it. ok=true: then
        register_workflow_definition(name) and start_workflow(workflow=name, config=name)."""
        ns = target_namespace(current_identity(), namespace)
        report = validate_report(spec_text)
        if not report.valid:
            return GenerationReport(name=report.name, out_dir="", ok=False, problems=report.problems)
        generated = workflow_name(parse_spec(spec_text))
        if name is not None and name != generated:
            raise ToolError(f"name: the spec {report.name!r} generates workflow {generated!r}, not {name!r}; "
                            f"omit name or pass {generated!r} (rename the spec to change it)")
        out_dir = generated_dir(root, ns, generated)
        out_dir.mkdir(parents=True, exist_ok=True)
        for file_name, text in (scripts or {}).items():
            if Path(file_name).name != file_name or file_name.startswith("."):
                raise ToolError(f"scripts: {file_name!r} is not a plain file name; pass e.g. 'fl_tasks.py' "
                                "(scripts are written beside the generated files)")
            if MARKER in text:  # only the template's module may carry it: the node imports that one
                raise ToolError(f"scripts: {file_name!r} carries the generated-module marker {MARKER!r}; "
                                "stage scripts are the tenant's code and run only in the sandbox: remove "
                                "that line (the workflow module is generated from the SPEC.md)")
            (out_dir / file_name).write_text(text, encoding="utf-8")
        try:  # the dry run's stage commands and callables run in the node's sandbox (bwrap), never here
            return await asyncio.to_thread(generate_from_text, spec_text, out_dir, dry_run=dry_run,
                                           sandbox=services.settings.sandbox())
        except SandboxUnavailable as exc:
            raise ToolError(f"dry_run: {exc}; or pass dry_run=false to generate without running") from None

    @mcp.tool(annotations=CONTROL)
    async def register_workflow_definition(name: GeneratedName, namespace: NamespaceFilter = None) -> DefinitionInfo:
        """Register a workflow spec_generate wrote, in your namespace only, so start_workflow
        runs it. Immutable: to change it, edit the SPEC.md and generate again."""
        from workflows.generated import register_generated
        from workflows.store.errors import DefinitionConflict

        identity = current_identity()
        ns = target_namespace(identity, namespace)
        directory = generated_dir(root, ns, name)
        try:
            registered = await register_generated(store, directory, namespace=ns, registered_by=identity.user,
                                                   limits=services.settings.limits)
        except DefinitionConflict as exc:
            raise ToolError(_conflict(ns, exc.name, exc.version, exc.stored_hash, exc.new_hash)) from None
        return DefinitionInfo(name=registered.name, version=registered.version, description=registered.description,
                              source_hash=registered.source_hash, parameter_schema=registered.parameter_schema(),
                              configs=configs_of(directory), namespace=ns)


def target_namespace(identity: Identity, namespace: str | None) -> str:
    """The one namespace a write acts in: ``namespace`` if granted, else the token's only one."""
    chosen = visible_namespace(identity, namespace)
    if chosen is None:
        raise BadArgument("namespace", "required for your token, which grants every namespace",
                          "pass the namespace to act in, e.g. namespace='alice'")
    return chosen


def _conflict(namespace: str, name: str, version: str, registered_hash: str, new_hash: str) -> str:
    return (f"name: workflow {name!r} version {version!r} is already registered with source hash "
            f"{registered_hash}, but generated/{namespace}/{name} now hashes to {new_hash}. Definitions are immutable: "
            "bump the version (change the SPEC.md and run spec_generate again, which gives a new version) "
            "instead of editing the generated files")
