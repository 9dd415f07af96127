"""The workflow runner (DAQ simulator): runs stored executions with the SimPy executor.

Listens on the ``workflow_control`` queue:

* ``run_workflow{execution_id}``: loads the execution (status ``pending``) from the store,
  allocates the run number, runs the workflow definition with the executor (fast, or real
  time with the execution's ``realtime_factor``), and sets the execution ``running`` ->
  ``completed`` | ``terminated`` | ``failed``.
* ``stop_workflow{execution_id}``: stops the executor; the workflow broadcasts ``end_run`` and
  the execution is closed ``terminated``. A pending execution that never started is closed too.
* ``status_request``: answers with one ``execution_status`` event per running execution.

Task (fan-out/fan-in) workflows (:func:`workflows.tasks.bridge.task_workflow_of` finds them)
are not stepped by SimPy: the runner awaits their :class:`TaskScheduler` on its own bus, sending
the tasks to the namespace's ``tasks`` queue, where the testbed's task workers take them. They
allocate no run number; their events (``group_started``, ``task_failed``, ...) and the final
``task_workflow_summary`` are published and stored like DAQ messages. A definition this process
has not registered (a generated workflow in a child-process runner) is loaded from the stored
config's ``directory`` and must have the version the execution was started with.

Every message the workflow emits is published on the ``daq`` topic, in order, and written to
the store in batches (messages, state events, the run row, the execution's phase and STF
count; :class:`~agents.testbed.kinds.run_recorder.RunRecorder`) by one pump task per execution:
the executor's ``emit`` only appends to a list.
The runner owns the run rows (``start_run`` -> running, ``end_run`` -> ended with
``total_stf_files``): it is the one agent that knows a run must be closed even when every
other agent is down. Execution changes are announced on the ``execution`` topic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from agents.tasks.run import run_workflow
from agents.tasks.scheduler import TaskRunSummary, TaskScheduler
from agents.testbed.bus.base import Delivery
from agents.testbed.framework.agent import Agent
from agents.testbed.kinds.run_recorder import RunningExecution, RunRecorder
from agents.testbed.pipeline_messages import ExecutionEvent, ExecutionStatusChanged, parse_agent_message
from agents.testbed.pipeline_messages import RunWorkflow, StatusRequest, StopWorkflow
from agents.testbed.execution_parameters import ExecutionParameters
from workflows.config import ExpandedConfig
from workflows.definitions import WorkflowDefinition, get_definition, registry
from workflows.errors import WorkflowError
from workflows.executor import ExecutionOutcome, WorkflowExecutor
from workflows.params import SECTION_MODELS
from workflows.store.errors import NotFound, StoreError, StoreUnavailable
from workflows.store.outage import outage_bound_s, retry_unavailable
from workflows.store.records import ExecutionRecord
from workflows.tasks.bridge import task_workflow_of
from workflows.tasks.workflow import TaskWorkflow

FINAL_PHASE = "no_beam/not_ready"
"""Where a completed DAQ run ends (after end_run's beam/not_ready, with no message of its own)."""
SWEEP_INTERVAL_S = 10.0
"""How often the runner re-checks its namespace for executions left ``running`` (option ``store_sweep_s``)."""
T = TypeVar("T")


@dataclass
class _Closing:
    """A terminal status the runner could not write (the database was away): the sweep writes it."""

    status: str
    error: str | None
    phase: str
    run_number: int | None
    stf_count: int


def execution_definition(record: ExecutionRecord) -> WorkflowDefinition:
    """The definition a stored execution runs: from the registry, or its generated directory.

    A generated task workflow started on this node but run by a runner in another process is not
    in that process's registry: it is loaded from the config's ``directory`` and registered, and
    its version must be the one the execution was started with.
    """
    try:
        return get_definition(record.workflow_name, record.definition_version, namespace=record.namespace)
    except WorkflowError:
        directory = (record.config or {}).get("directory")
        if (record.config or {}).get("kind") != "task" or not directory:
            raise
    from workflows.spec.generate import load_generated

    definition = registry.register(load_generated(Path(directory)).definition, namespace=record.namespace)
    if record.definition_version and definition.version != record.definition_version:
        raise WorkflowError(f"{directory} now holds {definition.name} version {definition.version}, but the execution "
                            f"was started with version {record.definition_version}; start it again")
    return definition


def workflow_parameters(record: ExecutionRecord, definition: WorkflowDefinition | None = None) -> BaseModel:
    """The workflow's parameter model instance for a stored execution."""
    expanded = ExpandedConfig.model_validate(record.config)
    if expanded.kind == "task" and definition is not None:
        model = definition.parameter_model
        return model.model_validate({k: v for k, v in record.parameters.items() if k in model.model_fields})
    model = SECTION_MODELS[expanded.section or "daq_state_machine"]
    return model.model_validate({k: v for k, v in record.parameters.items() if k in model.model_fields})


class WorkflowRunnerAgent(Agent):
    """Runs workflow executions on request and broadcasts their run messages."""

    agent_type = "workflow_runner"

    async def setup(self) -> None:
        self.running: dict[str, RunningExecution] = {}
        self._unclosed: dict[str, _Closing] = {}
        self._outage_s = float(self.options.get("store_outage_s", outage_bound_s()))
        self._sweep_s = float(self.options.get("store_sweep_s", SWEEP_INTERVAL_S))
        self._recorder = RunRecorder(self.store, self.namespace, sender=self.name, destination=self.to.daq,
                                     write=self._write)
        await self._close_orphans()
        await self.subscribe(self.to.workflow_control, self.on_control)
        self.spawn(self._sweep_loop(), f"runner-sweep-{self.name}")

    async def _close_orphans(self, reason: str | None = None) -> None:
        """Close, ``failed``, the executions of this namespace still ``running`` that this runner
        does not run: at start-up (one runner serves a namespace, so their runner died without
        closing them) and on every sweep (a closing write lost to a database outage)."""
        page = await self.store.executions.list(namespace=self.namespace, status="running", limit=200)
        for record in page.items:
            if record.execution_id in self.running or record.execution_id in self._unclosed:
                continue
            entry = RunningExecution(record.execution_id, run_number=record.run_number, phase=record.phase or "no_beam/not_ready",
                             stf_count=record.stf_count)
            await self._close_failed(entry, reason or f"the workflow runner ended while this execution ran (killed or "
                                                      f"crashed); {self.name} restarted and closed it; start the "
                                                      f"workflow again")

    async def _sweep_loop(self) -> None:
        """Every ``store_sweep_s``: write the closings an outage kept from the database, then close
        what is still ``running`` with no runner. A failing sweep is tried again at the next tick."""
        while True:
            await asyncio.sleep(self._sweep_s)
            try:
                await self._sweep()
            except asyncio.CancelledError:
                raise
            except StoreError as exc:
                self.log.debug("sweep: the store did not answer (%s); next sweep in %.0f s", exc, self._sweep_s)
            except Exception:  # noqa: BLE001 - the sweep must outlive any one failure
                self.log.exception("sweep failed; next sweep in %.0f s", self._sweep_s)

    async def _sweep(self) -> None:
        for execution_id, closing in list(self._unclosed.items()):
            entry = RunningExecution(execution_id, run_number=closing.run_number, phase=closing.phase,
                             stf_count=closing.stf_count)
            with contextlib.suppress(StoreError):
                await self._end_run(entry)
            try:
                await self.store.executions.set_status(execution_id, closing.status,  # type: ignore[arg-type]
                                                       error=closing.error, phase=closing.phase,
                                                       stf_count=closing.stf_count)
            except NotFound:
                del self._unclosed[execution_id]  # deleted meanwhile: nothing left to close
                continue
            del self._unclosed[execution_id]
            self.log.warning("execution %s closed %s by the sweep once the database answered again%s", execution_id,
                             closing.status, f": {closing.error}" if closing.error else "",
                             extra={"execution_id": execution_id})
            with contextlib.suppress(Exception):
                await self._announce(entry, closing.status, closing.status, error=closing.error)  # type: ignore[arg-type]
        await self._close_orphans(f"the execution was left running with no runner (its closing write was lost, "
                                  f"e.g. to a database outage); {self.name}'s periodic check closed it; start the "
                                  f"workflow again")

    async def _write(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """A store write that rides out a database outage (up to ``store_outage_s``, default
        ``CONTROLROOM_STORE_OUTAGE_S`` or 60 s); no waiting while the runner is stopping or killed."""
        bound = 0.0 if self._exit.is_set() or self.killed else self._outage_s
        return await retry_unavailable(call, what=what, bound_s=bound, log=self.log)

    async def on_control(self, delivery: Delivery) -> None:
        msg = parse_agent_message(delivery.body)
        if isinstance(msg, RunWorkflow):
            if msg.execution_id in self.running:
                self.log.warning("run_workflow %s ignored: already running here", msg.execution_id)
                return
            entry = RunningExecution(msg.execution_id)
            self.running[msg.execution_id] = entry
            self.spawn(self._run(entry), f"execution-{msg.execution_id}")
        elif isinstance(msg, StopWorkflow):
            await self._stop(msg)
        elif isinstance(msg, StatusRequest):
            for entry in list(self.running.values()):
                await self._announce(entry, "phase", "running")

    async def _stop(self, msg: StopWorkflow) -> None:
        entry = self.running.get(msg.execution_id)
        reason = msg.reason or "stopped by request"
        if entry is not None:
            entry.stop_reason = reason
            if entry.executor is not None:
                entry.executor.stop()
            if entry.scheduler is not None:
                entry.scheduler.stop(reason)
            self.log.info("stop requested for %s: %s", msg.execution_id, reason,
                          extra={"execution_id": msg.execution_id})
            return
        record = await self.store.executions.get(msg.execution_id)
        if record.status == "pending":
            await self.store.executions.set_status(msg.execution_id, "terminated", error=f"stopped before it started: {reason}")
            await self._announce(RunningExecution(msg.execution_id), "terminated", "terminated", error=reason)

    # --- one execution -----------------------------------------------------------------------

    async def _run(self, entry: RunningExecution) -> None:
        execution_id = entry.execution_id
        pump: asyncio.Task[None] | None = None
        try:
            record = await self.store.executions.get(execution_id)
            if record.status != "pending":
                self.log.warning("run_workflow %s ignored: status is %s, not pending", execution_id, record.status)
                return
            if entry.stop_reason is not None:
                await self.store.executions.set_status(execution_id, "terminated",
                                                       error=f"stopped before it started: {entry.stop_reason}")
                await self._announce(entry, "terminated", "terminated", error=entry.stop_reason)
                return
            async with self.busy():
                self.execution_id = execution_id
                try:
                    definition = execution_definition(record)
                    parameters = workflow_parameters(record, definition)
                except Exception as exc:  # noqa: BLE001 - a bad stored execution fails, never hangs
                    await self._fail(entry, f"{type(exc).__name__}: {exc}")
                    return
                task_workflow = task_workflow_of(definition)
                if task_workflow is not None:
                    pump = asyncio.create_task(self._pump(entry), name=f"pump-{execution_id}")
                    summary = await self._run_tasks(entry, task_workflow, parameters, record.realtime)
                    entry.finished = True
                    entry.wakeup.set()
                    await pump
                    pump = None
                    await self._close_tasks(entry, summary)
                    return
                knobs = ExecutionParameters.from_record(record)
                entry.run_number = await self.store.runs.allocate_run_number()
                executor = WorkflowExecutor(
                    definition.function,
                    emit=lambda body, e=entry: self._emit(e, body),
                    execution_id=execution_id,
                    namespace=self.namespace,
                    parameters=parameters,
                    run_id=entry.run_number,
                    mode="realtime" if record.realtime else "fast",
                    realtime_factor=knobs.realtime_factor,
                    duration=knobs.duration or None,
                )
                entry.executor = executor
                await self._write(lambda: self.store.executions.set_status(
                    execution_id, "running", run_number=entry.run_number, phase=entry.phase),
                    f"start {execution_id}")
                await self._announce(entry, "started", "running")
                self.log.info("execution %s started: run %d, %s mode", execution_id, entry.run_number,
                              "real-time" if record.realtime else "fast", extra={"execution_id": execution_id})
                pump = asyncio.create_task(self._pump(entry), name=f"pump-{execution_id}")
                if entry.stop_reason is not None:
                    executor.stop()
                outcome = await executor.run()
                entry.finished = True
                entry.wakeup.set()
                await pump  # it drains what is left, then returns
                pump = None
                await self._close(entry, outcome)
        except asyncio.CancelledError:
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(BaseException):
                    await pump
                pump = None
            await self._abandon(entry, "the workflow runner was stopped while the execution ran")
            raise
        except Exception as exc:  # noqa: BLE001 - the execution fails, the runner lives on
            self.log.exception("execution %s failed in the runner", execution_id, extra={"execution_id": execution_id})
            await self._close_failed(entry, f"{type(exc).__name__}: {exc}")
        finally:
            if pump is not None:
                pump.cancel()
            self.running.pop(execution_id, None)
            if not self.running:
                self.execution_id = None

    async def _run_tasks(self, entry: RunningExecution, workflow: TaskWorkflow, parameters: BaseModel,
                         realtime: bool) -> TaskRunSummary:
        """Await the task workflow's scheduler on this runner's bus (the testbed's workers serve it)."""
        execution_id = entry.execution_id
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[TaskScheduler] = loop.create_future()
        entry.phase = "tasks"
        await self._write(lambda: self.store.executions.set_status(execution_id, "running", phase=entry.phase),
                          f"start {execution_id}")
        await self._announce(entry, "started", "running")
        self.log.info("task workflow %s started: %s", execution_id, workflow.name, extra={"execution_id": execution_id})
        run = asyncio.create_task(run_workflow(
            workflow, self.bus, namespace=self.namespace, execution_id=execution_id, parameters=parameters,
            mode="realtime" if realtime else "fast", on_event=lambda body, e=entry: self._emit(e, body),
            scheduler_ready=ready))
        try:
            await asyncio.wait({ready, run}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            run.cancel()
            raise
        entry.scheduler = ready.result() if ready.done() else None
        if entry.scheduler is not None and entry.stop_reason is not None:
            entry.scheduler.stop(entry.stop_reason)
        try:
            summary = await asyncio.shield(run)
        except asyncio.CancelledError:
            if entry.scheduler is not None:
                entry.scheduler.stop("the workflow runner was stopped")
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(5.0):
                    await run
            raise
        self._emit(entry, {"msg_type": "task_workflow_summary", "namespace": self.namespace,
                           "execution_id": execution_id, "status": summary.status, "reason": summary.reason,
                           "stage_runs": summary.stage_runs, "failed": summary.failed, "metrics": summary.metrics,
                           "outputs": len(summary.outputs), "duration_s": round(summary.duration_s, 6),
                           "compute_s": round(summary.compute_s, 6), "workers": _compute_by_worker(summary)})
        return summary

    async def _close_tasks(self, entry: RunningExecution, summary: TaskRunSummary) -> None:
        error = summary.reason if summary.status != "completed" else None
        if summary.status == "terminated":
            error = entry.stop_reason or summary.reason or "terminated"
        entry.phase = summary.status
        try:
            await self._write(lambda: self.store.executions.set_status(entry.execution_id, summary.status, error=error,
                                                                       phase=entry.phase),
                              f"close {entry.execution_id} {summary.status}")
        except StoreUnavailable as exc:
            self._leave_to_sweep(entry, summary.status, error, exc)
            return
        level = self.log.info if summary.status == "completed" else self.log.warning
        level("task workflow %s %s: %d tasks, %d failed in %.3f s%s", entry.execution_id, summary.status,
              sum(summary.stage_runs.values()), summary.failed, summary.duration_s, f": {error}" if error else "",
              extra={"execution_id": entry.execution_id})
        await self._announce(entry, summary.status, summary.status, error=error)

    def _emit(self, entry: RunningExecution, body: dict[str, Any]) -> None:
        entry.outbox.append(body)
        entry.wakeup.set()

    async def _pump(self, entry: RunningExecution) -> None:
        try:
            while True:
                await entry.wakeup.wait()
                entry.wakeup.clear()
                await self._drain(entry)
                if entry.finished and not entry.outbox:
                    return
        except Exception:
            # the run's messages cannot be stored (e.g. the database was away past the bound):
            # stop the run now, the execution fails with this error (see _run)
            if entry.executor is not None:
                entry.executor.stop()
            if entry.scheduler is not None:
                entry.scheduler.stop("the workflow's messages could not be stored")
            raise

    async def _drain(self, entry: RunningExecution) -> None:
        """Publish what the workflow emitted, in order, then write it to the store as one batch."""
        while entry.outbox:
            batch = list(entry.outbox)  # removed only once recorded: a cancelled drain is repeated, not lost
            for body in batch:
                await self.bus.publish(self.to.daq, body, headers={"msg_type": body["msg_type"], "sender": self.name})
            change = await self._recorder.record(entry, batch)
            if change is not None:
                await self._announce(entry, change, "running")
            del entry.outbox[: len(batch)]

    async def _close(self, entry: RunningExecution, outcome: ExecutionOutcome) -> None:
        error = outcome.error
        if outcome.status == "terminated":
            error = entry.stop_reason or f"terminated ({outcome.cause})"
        if outcome.status == "completed" and entry.run_ended:
            entry.phase = FINAL_PHASE  # step 8 of the state machine is reached without a message
        with contextlib.suppress(Exception):
            await self._end_run(entry)
        try:
            await self._write(lambda: self.store.executions.set_status(
                entry.execution_id, outcome.status, error=error, phase=entry.phase, stf_count=entry.stf_count),
                f"close {entry.execution_id} {outcome.status}")
        except StoreUnavailable as exc:
            self._leave_to_sweep(entry, outcome.status, error, exc)
            return
        level = self.log.info if outcome.status == "completed" else self.log.warning
        level("execution %s %s: %d STFs in %.1f simulated s (%.3f s wall)%s", entry.execution_id, outcome.status,
              entry.stf_count, outcome.simulated_seconds, outcome.wall_seconds, f": {error}" if error else "",
              extra={"execution_id": entry.execution_id})
        await self._announce(entry, outcome.status, outcome.status, error=error)

    async def _fail(self, entry: RunningExecution, error: str) -> None:
        try:
            await self._write(lambda: self.store.executions.set_status(entry.execution_id, "failed", error=error),
                              f"close {entry.execution_id} failed")
        except StoreUnavailable as exc:
            self._leave_to_sweep(entry, "failed", error, exc)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. the execution was deleted: nothing to close
            self.log.error("execution %s failed (%s) and could not be closed: %s", entry.execution_id, error, exc,
                           extra={"execution_id": entry.execution_id})
            return
        self.log.error("execution %s failed: %s", entry.execution_id, error, extra={"execution_id": entry.execution_id})
        with contextlib.suppress(Exception):
            await self._announce(entry, "failed", "failed", error=error)

    async def _abandon(self, entry: RunningExecution, error: str) -> None:
        """Close an execution whose runner is going away (stop the executor, end the run):
        ``terminated`` when the runner was asked to stop, ``failed`` when it was killed or crashed."""
        with contextlib.suppress(Exception):
            if entry.executor is not None:
                entry.executor.stop()
            if entry.scheduler is not None:
                entry.scheduler.stop(error)
            await self._drain(entry)
        if self.killed or not self._exit.is_set():
            await self._close_failed(entry, "the workflow runner was killed while the execution ran; start it again")
            return
        with contextlib.suppress(Exception):
            await self._end_run(entry)
            await self.store.executions.set_status(entry.execution_id, "terminated", error=error)
            await self._announce(entry, "terminated", "terminated", error=error)

    async def _end_run(self, entry: RunningExecution) -> None:
        if entry.run_number is not None and not entry.run_ended:
            run_number = entry.run_number
            run = await self._write(lambda: self.store.runs.get_run(run_number), f"end run {run_number}")
            if run.status == "running":
                await self._write(lambda: self.store.runs.end_run(run_number, entry.stf_count), f"end run {run_number}")

    def _leave_to_sweep(self, entry: RunningExecution, status: str, error: str | None, exc: Exception) -> None:
        """The closing write failed past the outage bound: keep it for the sweep (never left ``running``)."""
        self._unclosed[entry.execution_id] = _Closing(status, error, entry.phase, entry.run_number, entry.stf_count)
        self.log.error("execution %s could not be closed %s (%s); the runner writes it every %.0f s until the "
                       "database answers", entry.execution_id, status, exc, self._sweep_s,
                       extra={"execution_id": entry.execution_id})

    async def _close_failed(self, entry: RunningExecution, error: str) -> None:
        """End the execution's run and close it ``failed`` with ``error`` (logged, announced)."""
        with contextlib.suppress(Exception):
            await self._end_run(entry)
        await self._fail(entry, error)

    async def _announce(self, entry: RunningExecution, event: ExecutionEvent, status: str, error: str | None = None) -> None:
        await self.publish(
            self.to.execution,
            ExecutionStatusChanged(namespace=self.namespace, execution_id=entry.execution_id, event=event,
                                   status=status, phase=entry.phase, run_number=entry.run_number,
                                   stf_count=entry.stf_count, error=error),
            persistent=False,
        )


def _compute_by_worker(summary: TaskRunSummary) -> dict[str, list[float]]:
    """``{worker: [tasks, failed, compute_s]}``: each task counted for the worker that ran its last
    attempt, with the compute of all its attempts (the statistics tool's per-agent time)."""
    out: dict[str, list[float]] = {}
    for task in summary.tasks:
        if task.worker is None:
            continue
        counts = out.setdefault(task.worker, [0, 0, 0.0])
        counts[0] += 1
        counts[1] += task.state == "failed"
        counts[2] = round(counts[2] + task.duration_s, 6)
    return out
