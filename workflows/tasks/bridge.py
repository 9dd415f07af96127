"""A task workflow as an entry of the definitions registry (run by the SimPy executor).

The workflow runner runs every definition with :class:`workflows.executor.WorkflowExecutor`, which
steps a SimPy generator. This adapter's generator starts the task workflow as an asyncio task (as
[agents.task_workers] says: embedded bus with in-process workers, or ActiveMQ; through the
installed task runtime, :mod:`workflows.tasks.runtime`), forwards its events through
``ctx.emit``, and yields short SimPy timeouts until the run ends; a stop closes the generator,
which stops the scheduler. A failed task run raises, so the execution ends ``failed`` with the
reason. Known cost: in fast mode the executor steps those timeouts without pause while tasks run
(one busy core); in real-time mode it waits ``POLL_S`` of wall time between looks. The testbed's
workflow runner does not use this adapter: it finds the workflow with :func:`task_workflow_of`
and awaits its scheduler directly (see :mod:`agents.testbed.kinds.workflow_runner`).

Example::

    definition = task_definition(workflow, source=Path("fl_workflow.py").read_text())
    registry.register(definition)
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import simpy.rt
from pydantic import BaseModel

from workflows.definitions import WorkflowDefinition
from workflows.executor import WorkflowContext, WorkflowFunction
from workflows.tasks.errors import TaskWorkflowError
from workflows.tasks.runtime import StoppableRun
from workflows.tasks.workflow import TaskWorkflow

POLL_S = 0.05
"""Simulated seconds between two looks at the running task workflow."""


class TaskRunFailed(TaskWorkflowError):
    """The task workflow ended ``failed``; the message is its reason (the failing task)."""


def _parameters(workflow: TaskWorkflow, given: BaseModel | None) -> BaseModel:
    """The workflow's parameters from whatever the runner passes (fields it does not know are ignored)."""
    if isinstance(given, workflow.parameters):
        return given
    known = given.model_dump() if given is not None else {}
    return workflow.default_parameters({k: v for k, v in known.items() if k in workflow.parameters.model_fields})


def simpy_function(workflow: TaskWorkflow) -> WorkflowFunction:
    """A SimPy workflow function that runs ``workflow`` locally while the executor steps it."""

    def run(ctx: WorkflowContext) -> Generator[Any, Any, Any]:
        loop = asyncio.get_running_loop()
        mode = "realtime" if isinstance(ctx.env, simpy.rt.RealtimeEnvironment) else "fast"
        ready: asyncio.Future[StoppableRun] = loop.create_future()
        task = loop.create_task(workflow.run_configured(
            namespace=ctx.namespace, execution_id=ctx.execution_id, parameters=_parameters(workflow, ctx.parameters),
            mode=mode, on_event=ctx.emit, scheduler_ready=ready))
        try:
            while not task.done():
                yield ctx.env.timeout(POLL_S)
        finally:
            if not task.done():
                if ready.done():
                    ready.result().stop(f"execution {ctx.stop_reason or 'closed'}")
                else:
                    task.cancel()
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
        summary = task.result()
        if summary.status != "completed":
            raise TaskRunFailed(summary.reason or summary.status)
        ctx.emit({"msg_type": "task_workflow_summary", "stage_runs": summary.stage_runs,
                  "metrics": summary.metrics, "compute_s": round(summary.compute_s, 6)})

    run.__name__ = workflow.name
    run.__qualname__ = workflow.name
    run.task_workflow = workflow  # type: ignore[attr-defined]  # read by task_workflow_of
    return run


def task_workflow_of(definition: WorkflowDefinition) -> TaskWorkflow | None:
    """The task workflow behind a registry entry made by :func:`task_definition`, else ``None``.

    The workflow runner awaits such workflows directly (no SimPy stepping) and the testbed starts
    their task workers.
    """
    found = getattr(definition.function, "task_workflow", None)
    return found if isinstance(found, TaskWorkflow) else None


def task_definition(workflow: TaskWorkflow, *, source: str) -> WorkflowDefinition:
    """The registry entry of ``workflow``; ``source`` is the generated module's text (hashed)."""
    return WorkflowDefinition(name=workflow.name, version=workflow.version, function=simpy_function(workflow),
                              parameter_model=workflow.parameters, description=workflow.description, source=source)


__all__ = ["POLL_S", "TaskRunFailed", "simpy_function", "task_definition", "task_workflow_of"]
