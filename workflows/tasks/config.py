"""The TOML config of a generated task workflow: parameter defaults, failure policy, workers.

Loaded with the workflow engine's include rules (``[workflow] includes``, later files override
earlier ones, tables deep-merged; see :mod:`workflows.config`). The tables::

    [workflow]            name, version, description, includes
    [parameters]          default value of each spec parameter
    [tasks]               timeout_s (per task, none = no limit), retries, run_root, mode
    [stages.<id>]         timeout_s / retries of one stage, overriding [tasks]
    [agents.task_workers] count (in-process workers of a local run), bus ("embedded" | "stomp"),
                          stomp ("host:port"), module (the worker's python -m entry point)
    [sandbox]             limits of each task's sandbox: cpu_s (600), memory_mb (2048),
                          processes (256), file_mb (1024); bounded (see SandboxLimits)

Example::

    >>> TaskConfig.model_validate({"workflow": {"name": "demo"}, "tasks": {"retries": 2}}).tasks.retries
    2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workflows.errors import ConfigError
from workflows.tasks.errors import TaskConfigError
from workflows.tasks.sandbox import SandboxLimits


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class WorkflowTable(_Table):
    name: str
    version: str = "1.0"
    description: str = ""


class TasksTable(_Table):
    timeout_s: float | None = Field(None, gt=0, description="seconds one attempt may run; none = no limit")
    retries: int = Field(0, ge=0, description="attempts after the first before the task fails the workflow")
    run_root: str = Field("runs", description="directory of run directories, relative to the config's directory")
    mode: Literal["fast", "realtime"] = "fast"


class StageTable(_Table):
    timeout_s: float | None = Field(None, gt=0)
    retries: int | None = Field(None, ge=0)


class WorkersTable(_Table):
    count: int = Field(4, ge=1, le=256, description="in-process task workers of a local run")
    bus: Literal["embedded", "stomp"] = "embedded"
    stomp: str = "127.0.0.1:61613"
    module: str = "agents.tasks.worker"


class TaskConfig(_Table):
    """A generated task workflow's config, after includes are merged."""

    workflow: WorkflowTable
    parameters: dict[str, Any] = Field(default_factory=dict)
    tasks: TasksTable = TasksTable()
    stages: dict[str, StageTable] = Field(default_factory=dict)
    agents: dict[str, WorkersTable] = Field(default_factory=dict)
    sandbox: SandboxLimits = SandboxLimits()

    def workers(self) -> WorkersTable:
        """The ``[agents.task_workers]`` table (defaults when absent)."""
        return self.agents.get("task_workers", WorkersTable())

    def policy(self, stage: str) -> tuple[float | None, int]:
        """``(timeout_s, retries)`` of one stage."""
        own = self.stages.get(stage, StageTable())
        timeout = own.timeout_s if own.timeout_s is not None else self.tasks.timeout_s
        retries = own.retries if own.retries is not None else self.tasks.retries
        return timeout, retries


def load_task_config(path: Path) -> TaskConfig:
    """Read ``path`` with its includes (relative to its directory) and validate it."""
    from workflows.config import load_tree  # the engine's include loader (same merge rules)

    path = Path(path)
    if not path.is_file():
        raise TaskConfigError(f"{path}: no such config file; generate it with `controlroom spec generate`")
    try:
        merged, _files = load_tree(path.stem, path.parent.resolve(), stack=[], origins={}, included_from=None)
    except ConfigError as exc:
        raise TaskConfigError(f"{path}: {exc}") from None
    try:
        return TaskConfig.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise TaskConfigError(f"{path}: [{field}] {first['msg']} (and {exc.error_count() - 1} more)"
                              if exc.error_count() > 1 else f"{path}: [{field}] {first['msg']}") from None
