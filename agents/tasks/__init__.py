"""The task runtime: the agent kind that runs task (fan-out/fan-in) workflows on the bus.

``worker`` (the task worker agent, also ``python -m agents.tasks.worker``), ``pool`` (a
namespace's task workers: in-process or child processes), ``scheduler`` (sends a plan's tasks and
collects the results) and ``run`` (a :class:`~workflows.tasks.workflow.TaskWorkflow` run over a
bus, locally, or as configured). What a task workflow is (plan, config, payloads, messages,
sandbox) stays in :mod:`workflows.tasks`.

Importing this package installs :class:`agents.tasks.run.LocalTaskRuntime` as the process's task
runtime (:mod:`workflows.tasks.runtime`), so the workflow side (the dry run of ``spec generate``,
the SimPy bridge) can run task workflows without importing the agents layer.
"""

from agents.tasks.run import LocalTaskRuntime
from workflows.tasks.runtime import install_task_runtime

install_task_runtime(LocalTaskRuntime())
