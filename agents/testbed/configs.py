"""Which testbed a ``start_testbed(config=...)`` means.

Users (and models) name either a testbed config (``testbed``: which agents run) or the workflow
config they mean to run (``fast_processing_default``). A workflow config starts the node's
default testbed (testbed.toml) with that config as its workflow and every agent the config's
processing section needs enabled.

Example::

    resolved = resolve_testbed_config(workflows_dir, "fast_processing_default")
    resolved.kind, resolved.testbed, resolved.workflow_config  # ('workflow', 'testbed', 'fast_processing_default')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workflows.config import TestbedFile, config_names, expand_config, load_testbed
from workflows.errors import WorkflowError

__all__ = ["DEFAULT_TESTBED", "NEEDED_AGENTS", "ResolvedTestbed", "resolve_testbed_config"]

DEFAULT_TESTBED = "testbed"

NEEDED_AGENTS: dict[str, tuple[str, ...]] = {
    "fast_processing": ("data", "fastmon", "fast_processing"),
    "stf_processing": ("data", "processing"),
}
"""A workflow config's processing section -> the agent types its runs need (workers come with fast_processing)."""


@dataclass(frozen=True, slots=True)
class ResolvedTestbed:
    """The testbed to start and what the caller's name turned out to be."""

    file: TestbedFile
    kind: Literal["testbed", "workflow"]
    testbed: str
    workflow_config: str | None = None


def resolve_testbed_config(workflows_dir: Path, config: str) -> ResolvedTestbed:
    """``config`` as a testbed config, else as a workflow config run on the default testbed.

    Raises the testbed file's `WorkflowError` when ``config`` is neither.
    """
    name = config.removesuffix(".toml")
    try:
        return ResolvedTestbed(load_testbed(workflows_dir, f"{name}.toml"), "testbed", name)
    except WorkflowError:
        if name == DEFAULT_TESTBED or name not in config_names(workflows_dir):
            raise
        section = expand_config(name, workflows_dir=workflows_dir).section  # not a workflow config either: raises
    base = load_testbed(workflows_dir, f"{DEFAULT_TESTBED}.toml")
    agents = {kind: dict(table) for kind, table in base.agents.items()}
    for kind in NEEDED_AGENTS.get(section or "", ()):
        agents[kind] = {**agents.get(kind, {}), "enabled": True}
    workflow = base.workflow.model_copy(update={"config": name})
    return ResolvedTestbed(base.model_copy(update={"workflow": workflow, "agents": agents}),
                           "workflow", DEFAULT_TESTBED, workflow_config=name)
