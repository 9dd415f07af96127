"""The task-runtime port: how the workflow side runs a task workflow without knowing the bus.

A task workflow's tasks run on worker agents over the bus, which live a layer up
(:mod:`agents.tasks`). The workflow side still starts runs of its own: the dry run of ``spec
generate`` (:meth:`TaskWorkflow.run_local`) and the SimPy bridge outside a testbed
(:meth:`TaskWorkflow.run_configured`). They ask this port, and the agents layer installs the
adapter (:class:`agents.tasks.run.LocalTaskRuntime`; importing :mod:`agents.tasks` installs it,
and every process that runs tasks does: the node, ``controlroom``, the testbed).

Example::

    install_task_runtime(LocalTaskRuntime())        # done by agents.tasks
    summary = await task_runtime().run_local(workflow, workers=4, mode="fast")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from workflows.tasks.errors import TaskWorkflowError
from workflows.tasks.summary import TaskRunSummary

if TYPE_CHECKING:
    from workflows.tasks.workflow import TaskWorkflow

__all__ = ["NoTaskRuntime", "StoppableRun", "TaskRuntime", "install_task_runtime", "task_runtime"]


class StoppableRun(Protocol):
    """A run in progress that can be ended at once (the scheduler): it then ends ``terminated``."""

    def stop(self, reason: str = ...) -> None: ...


class TaskRuntime(Protocol):
    """Runs a :class:`~workflows.tasks.workflow.TaskWorkflow`; keyword arguments as
    :meth:`TaskWorkflow.run_local` documents them."""

    async def run_local(self, workflow: TaskWorkflow, **kwargs: Any) -> TaskRunSummary:
        """On a private embedded bus with in-process workers."""
        ...

    async def run_configured(self, workflow: TaskWorkflow, **kwargs: Any) -> TaskRunSummary:
        """As the workflow's ``[agents.task_workers]`` says (embedded, or workers on a STOMP broker)."""
        ...


class NoTaskRuntime(TaskWorkflowError):
    """No task runtime is installed in this process."""


_installed: TaskRuntime | None = None


def install_task_runtime(runtime: TaskRuntime) -> None:
    """Make ``runtime`` the one this process's task workflows run on."""
    global _installed
    _installed = runtime


def task_runtime() -> TaskRuntime:
    """The installed runtime; :class:`NoTaskRuntime` (saying what to import) when there is none."""
    if _installed is None:
        raise NoTaskRuntime("no task runtime in this process: task workflows run on the agents' task workers; "
                            "import agents.tasks (it installs agents.tasks.run.LocalTaskRuntime)")
    return _installed
