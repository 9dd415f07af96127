"""A task workflow: stages with symbolic counts, a parameter model and a config, runnable anywhere.

Generated workflow modules build one :class:`TaskWorkflow`; it turns parameter values into a
:class:`workflows.tasks.plan.TaskPlan`. Running the plan is the task runtime's job (the scheduler
and the workers on the bus, :mod:`agents.tasks`): :func:`agents.tasks.run.run_workflow` over a
given bus, or :meth:`TaskWorkflow.run_local` / :meth:`TaskWorkflow.run_configured`, which ask the
installed runtime (:mod:`workflows.tasks.runtime`).

Example::

    >>> from pydantic import BaseModel
    >>> class P(BaseModel):
    ...     K: int = 3
    >>> wf = TaskWorkflow(name="demo", version="1", description="", parameters=P,
    ...                   stages=(TaskStage("work", count="K", sleep_s=0.5),))
    >>> wf.plan(P(), run_dir="/tmp/run").planned_runs()
    {'work': 3}
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from workflows.tasks.config import TaskConfig, WorkflowTable
from workflows.tasks.errors import PlanError
from workflows.tasks.messages import Mode
from workflows.tasks.plan import CallableTemplate, CommandTemplate, PayloadTemplate, SleepTemplate, StagePlan, TaskPlan
from workflows.tasks.plan import build_plan
from workflows.tasks.runtime import StoppableRun, task_runtime
from workflows.tasks.sandbox import Sandbox, SandboxLimits
from workflows.tasks.summary import EventSink, TaskRunSummary


@dataclass(frozen=True)
class TaskStage:
    """One stage as a spec states it: count/repeat are integers or parameter names.

    Exactly one payload: ``command`` (placeholders ``{index}``, ``{round}``, ``{run_dir}``,
    ``{<parameter>}``), ``callable`` (``module:function``, called with ``index``, ``round``,
    ``run_dir`` and ``params``) or ``sleep_s`` (synthetic work).
    """

    id: str
    depends_on: tuple[str, ...] = ()
    count: int | str = 1
    repeat: int | str = 1
    command: str = ""
    callable: str = ""
    sleep_s: float | None = None

    def payload(self, values: Mapping[str, Any], run_dir: str, cwd: str | None,
                limits: SandboxLimits | None = None) -> PayloadTemplate:
        chosen = [bool(self.command), bool(self.callable), self.sleep_s is not None]
        if sum(chosen) != 1:
            raise PlanError(f"stage {self.id!r}: give exactly one of command, callable or sleep_s")
        limits = limits or SandboxLimits()
        if self.command:
            return CommandTemplate(self.command, {**values, "run_dir": run_dir}, cwd=cwd, stage=self.id,
                                   run_dir=run_dir, limits=limits)
        if self.callable:
            return CallableTemplate(self.callable, {"run_dir": run_dir, "params": dict(values)}, cwd=cwd,
                                    run_dir=run_dir, limits=limits)
        return SleepTemplate(float(self.sleep_s or 0.0))


def _size(stage: str, what: str, value: int | str, values: Mapping[str, Any]) -> int:
    if isinstance(value, int):
        return value
    if value not in values:
        raise PlanError(f"stage {stage!r}: {what} names parameter {value!r}, which the workflow does not have")
    number = values[value]
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise PlanError(f"stage {stage!r}: {what} = {value} = {number!r}; it must be an integer >= 1")
    return number


@dataclass(frozen=True)
class TaskWorkflow:
    """A named task workflow: stages, parameter model, config (policy, workers) and its directory."""

    name: str
    version: str
    description: str
    parameters: type[BaseModel]
    stages: tuple[TaskStage, ...]
    config: TaskConfig | None = None
    directory: Path | None = None
    criteria: tuple[tuple[str, str], ...] = field(default=())
    """Automatic validation criteria: ``(id, expression)`` pairs (see :mod:`workflows.spec.criteria`)."""

    def settings(self) -> TaskConfig:
        """The config, or defaults when the workflow was built without one."""
        return self.config or TaskConfig(workflow=WorkflowTable(name=self.name, version=self.version))

    def default_parameters(self, overrides: Mapping[str, Any] | None = None) -> BaseModel:
        """The parameter model with the config's defaults and ``overrides`` applied (validated)."""
        return self.parameters.model_validate({**self.settings().parameters, **(overrides or {})})

    def run_dir_for(self, execution_id: str) -> Path:
        """Where an execution's files go: ``<directory>/<run_root>/<execution_id>``."""
        root = Path(self.settings().tasks.run_root)
        if not root.is_absolute():
            root = (self.directory or Path.cwd()) / root
        return root / execution_id

    def planned_tasks(self, parameters: BaseModel) -> int:
        """How many tasks (first attempts) :meth:`plan` would make for these values, without planning."""
        values = parameters.model_dump()
        return sum(_size(s.id, "count", s.count, values) * _size(s.id, "repeat", s.repeat, values) for s in self.stages)

    def plan(self, parameters: BaseModel, *, run_dir: str) -> TaskPlan:
        """Resolve counts and payloads for these parameter values."""
        values = parameters.model_dump()
        cwd = str(self.directory) if self.directory is not None else None
        settings = self.settings()
        plans = []
        for stage in self.stages:
            timeout_s, retries = settings.policy(stage.id)
            plans.append(StagePlan(
                id=stage.id, depends_on=stage.depends_on,
                count=_size(stage.id, "count", stage.count, values),
                repeat=_size(stage.id, "repeat", stage.repeat, values),
                payload=stage.payload(values, run_dir, cwd, settings.sandbox), timeout_s=timeout_s, retries=retries,
            ))
        return build_plan(plans)

    async def run_configured(self, **kwargs: Any) -> TaskRunSummary:
        """Run as ``[agents.task_workers]`` says: ``embedded`` (a local run) or ``stomp`` (workers elsewhere);
        keyword arguments as :meth:`run_local`."""
        return await task_runtime().run_configured(self, **kwargs)

    async def run_local(
        self,
        *,
        workers: int | None = None,
        namespace: str = "local",
        execution_id: str | None = None,
        parameters: BaseModel | None = None,
        mode: Mode | None = None,
        run_dir: Path | None = None,
        on_event: EventSink | None = None,
        scheduler_ready: asyncio.Future[StoppableRun] | None = None,
        sandbox: Sandbox | None = None,
    ) -> TaskRunSummary:
        """Run on a private embedded bus with ``workers`` in-process workers (config default); each
        task's code runs in ``sandbox`` (default: bwrap on PATH, nothing hidden). ``scheduler_ready``
        is given the running scheduler (to :meth:`~workflows.tasks.runtime.StoppableRun.stop` it)."""
        return await task_runtime().run_local(
            self, workers=workers, namespace=namespace, execution_id=execution_id, parameters=parameters, mode=mode,
            run_dir=run_dir, on_event=on_event, scheduler_ready=scheduler_ready, sandbox=sandbox)
