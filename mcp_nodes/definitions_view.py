"""What list_workflow_definitions shows: the code registry joined with the configs on disk."""

from __future__ import annotations

from pathlib import Path

from mcp_nodes.models import DefinitionInfo
from workflows.config import DEFAULT_WORKFLOWS_DIR, config_names
from workflows.definitions import registry
from workflows.params import SECTION_MODELS, WORKFLOW_SECTIONS

__all__ = ["list_definitions"]

_NOT_RUNNABLE = {"daq_state_machine", "testbed"}


def list_definitions(workflows_dir: Path | None) -> list[DefinitionInfo]:
    """Every registered workflow with its parameter schema and the runnable configs.

    ``section_schemas`` adds the JSON Schema of each workflow section ([fast_processing],
    [stf_processing]): a config of that section accepts those parameter names.
    """
    configs = [name for name in config_names(workflows_dir or DEFAULT_WORKFLOWS_DIR) if name not in _NOT_RUNNABLE]
    sections = {name: SECTION_MODELS[name].model_json_schema() for name in WORKFLOW_SECTIONS}
    return [
        DefinitionInfo(name=d.name, version=d.version, description=d.description, source_hash=d.source_hash,
                       parameter_schema=d.parameter_schema(), configs=configs, section_schemas=sections)
        for d in registry.all()
    ]
