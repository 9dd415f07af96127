"""What list_workflow_definitions shows: the code registry joined with the configs on disk."""

from __future__ import annotations

from pathlib import Path

from mcp_nodes.models import DefinitionInfo
from workflows.config import DEFAULT_WORKFLOWS_DIR, config_names
from workflows.definitions import registry
from workflows.params import SECTION_MODELS, WORKFLOW_SECTIONS

__all__ = ["list_definitions"]

_NOT_RUNNABLE = {"daq_state_machine", "testbed"}


def list_definitions(workflows_dir: Path | None, namespace: str | None = None, *,
                     every_namespace: bool = False) -> list[DefinitionInfo]:
    """Every workflow ``namespace`` can run (the built-ins and its own; every namespace's with
    ``every_namespace``), with its parameter schema and the runnable configs.

    ``section_schemas`` adds the JSON Schema of each workflow section ([fast_processing],
    [stf_processing]): a config of that section accepts those parameter names. A generated
    task workflow's configs are the ones in its own directory.
    """
    from workflows.generated import configs_of
    from workflows.tasks.bridge import task_workflow_of

    configs = [name for name in config_names(workflows_dir or DEFAULT_WORKFLOWS_DIR) if name not in _NOT_RUNNABLE]
    sections = {name: SECTION_MODELS[name].model_json_schema() for name in WORKFLOW_SECTIONS}
    items = []
    for scope, d in registry.entries(namespace, every_namespace=every_namespace):
        task = task_workflow_of(d)
        own = configs_of(task.directory) if task is not None and task.directory is not None else None
        items.append(DefinitionInfo(
            name=d.name, version=d.version, description=d.description, namespace=scope, source_hash=d.source_hash,
            parameter_schema=d.parameter_schema(), configs=own if own is not None else configs,
            section_schemas={} if own is not None else sections))
    return items
