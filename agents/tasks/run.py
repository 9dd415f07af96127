"""The run step of a task workflow: its plan, the scheduler and the workers, over a bus.

:func:`run_workflow` runs a :class:`~workflows.tasks.workflow.TaskWorkflow` once over a given bus
(task workers must be consuming the namespace's tasks queue: the testbed's pool, or workers
elsewhere); :func:`run_local` brings a private embedded bus and in-process workers (the dry run,
tests, single-host runs); :func:`run_configured` does as ``[agents.task_workers]`` says.
:class:`LocalTaskRuntime` offers the last two to the workflow side through the port
:mod:`workflows.tasks.runtime`.

Example::

    summary = await run_workflow(workflow, bus, namespace="alice", execution_id="fl_workflow-alice-0001")
    summary = await run_local(workflow, workers=4, mode="fast")
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agents.tasks.scheduler import TaskScheduler
from agents.tasks.worker import TaskWorker
from agents.testbed.bus import EMBEDDED, Bus, InvalidBusUrl, bus_from_url
from agents.testbed.bus.url import STOMP_SCHEME
from workflows.tasks.errors import TaskConfigError
from workflows.tasks.messages import Mode
from workflows.tasks.runtime import StoppableRun
from workflows.tasks.sandbox import Sandbox
from workflows.tasks.summary import EventSink, TaskRunSummary
from workflows.tasks.workflow import TaskWorkflow

__all__ = ["LocalTaskRuntime", "run_configured", "run_local", "run_workflow"]


async def run_workflow(
    workflow: TaskWorkflow,
    bus: Bus,
    *,
    namespace: str,
    execution_id: str,
    parameters: BaseModel | None = None,
    mode: Mode | None = None,
    run_dir: Path | None = None,
    on_event: EventSink | None = None,
    scheduler_ready: asyncio.Future[TaskScheduler] | asyncio.Future[StoppableRun] | None = None,
) -> TaskRunSummary:
    """Run ``workflow`` once over ``bus``; task workers must be consuming the namespace's tasks queue."""
    params = parameters if parameters is not None else workflow.default_parameters()
    directory = run_dir or workflow.run_dir_for(execution_id)
    directory.mkdir(parents=True, exist_ok=True)
    plan = workflow.plan(params, run_dir=str(directory))
    scheduler = TaskScheduler(plan, bus, namespace=namespace, execution_id=execution_id,
                              mode=mode or workflow.settings().tasks.mode, on_event=on_event)
    if scheduler_ready is not None and not scheduler_ready.done():
        scheduler_ready.set_result(scheduler)
    return await scheduler.run()


async def run_local(
    workflow: TaskWorkflow,
    *,
    workers: int | None = None,
    namespace: str = "local",
    execution_id: str | None = None,
    sandbox: Sandbox | None = None,
    **kwargs: Any,
) -> TaskRunSummary:
    """Run on a private embedded bus with ``workers`` in-process workers (config default); each task's
    code runs in ``sandbox`` (default: bwrap on PATH, nothing hidden). Other keyword arguments as
    :func:`run_workflow`."""
    count = workers or workflow.settings().workers().count
    async with bus_from_url(EMBEDDED) as bus:
        pool = [TaskWorker(bus, namespace, name=f"{workflow.name}-worker-{i}", sandbox=sandbox) for i in range(count)]
        for worker in pool:
            await worker.start()
        try:
            return await run_workflow(workflow, bus, namespace=namespace,
                                      execution_id=execution_id or f"{workflow.name}-local", **kwargs)
        finally:
            for worker in pool:
                with contextlib.suppress(Exception):
                    await worker.stop()


async def run_configured(workflow: TaskWorkflow, **kwargs: Any) -> TaskRunSummary:
    """Run as ``[agents.task_workers]`` says: ``embedded`` (:func:`run_local`) or ``stomp`` (workers elsewhere)."""
    workers = workflow.settings().workers()
    if workers.bus == "embedded":
        return await run_local(workflow, **kwargs)
    try:
        bus = bus_from_url(f"{STOMP_SCHEME}{workers.stomp}")
    except InvalidBusUrl as exc:
        raise TaskConfigError(f"[agents.task_workers] stomp: {workers.stomp!r} is not HOST:PORT ({exc})") from None
    kwargs.pop("workers", None)
    kwargs.pop("sandbox", None)  # the workers elsewhere have their own
    async with bus:
        return await run_workflow(workflow, bus, **kwargs)


class LocalTaskRuntime:
    """The task runtime of this process (the adapter of :class:`workflows.tasks.runtime.TaskRuntime`)."""

    async def run_local(self, workflow: TaskWorkflow, **kwargs: Any) -> TaskRunSummary:
        return await run_local(workflow, **kwargs)

    async def run_configured(self, workflow: TaskWorkflow, **kwargs: Any) -> TaskRunSummary:
        return await run_configured(workflow, **kwargs)
