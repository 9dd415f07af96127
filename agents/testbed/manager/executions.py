"""Execution control: start, stop, wait on and monitor workflow executions on a running testbed.

An execution is validated before anything is stored (a rejected start changes nothing), written
to the store, and handed to the namespace's workflow runner with ``run_workflow``; a stop asks
the runner (``stop_workflow``) and closes the execution here if the runner does not answer.
``wait_for_execution`` wakes on the namespace's execution topic and returns once the execution
ended *and* what it started downstream has drained (docs/testbed.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.tasks.pool import WORKER_MODULE, TaskWorkerPool, worker_module
from agents.testbed.errors import ExecutionNotFound, InvalidRequest
from agents.testbed.framework.destinations import Destinations
from agents.testbed.framework.runners.base import AgentSpec
from agents.testbed.framework.status import ExecutionProgress, WorkflowMonitor
from agents.testbed.kinds.fast_processing import RECEIVED_COUNTER
from agents.testbed.manager.state import CORE_AGENT, ManagerState, RunningTestbed
from agents.testbed.pipeline_messages import ExecutionStatusChanged, RunWorkflow, StopWorkflow
from agents.testbed.execution_parameters import TestbedKnobs
from workflows.config import expand_config
from workflows.definitions import registry
from workflows.errors import WorkflowError
from workflows.params import FastProcessingParameters
from workflows.store.errors import NotFound
from workflows.store.records import TERMINAL_STATUSES, ExecutionRecord
from workflows.tasks.bridge import task_workflow_of

ProgressCallback = Callable[[ExecutionProgress], Awaitable[None]]
PROGRESS_MIN_GAP_S = 0.2
SLICES_PER_SAMPLE: int = FastProcessingParameters.model_fields["slices_per_sample"].default
"""The workflow model's default, for an execution that does not carry the parameter (as the agents read it)."""

__all__ = ["ExecutionControl", "ProgressCallback"]


class ExecutionControl:
    """Starts, stops, waits on and monitors the executions of the manager's testbeds."""

    def __init__(self, state: ManagerState) -> None:
        self.state = state
        self.store = state.store

    # --- start -------------------------------------------------------------------------------

    async def start_workflow(
        self,
        namespace: str,
        workflow: str = "stf_datataking",
        config: str = "fast_processing_default",
        parameters: dict[str, Any] | None = None,
        realtime: bool = False,
        executed_by: str = "anonymous",
        reason: str | None = None,
    ) -> ExecutionRecord:
        """Validate, store and start an execution on the namespace's testbed.

        Everything is checked before anything is stored: a rejected call changes nothing.
        ``parameters`` are the config's parameters plus the testbed's own ``realtime_factor``
        (wall seconds per simulated second, real-time runs) and ``slice_failure_rate`` (0..1,
        failure injection).
        """
        testbed = self.state.running(namespace)
        try:
            return await self._start_workflow(testbed, workflow, config, parameters, realtime, executed_by, reason)
        except (InvalidRequest, WorkflowError) as exc:
            # a rejected start changes nothing, but leaves a WARNING in the namespace for a debugger
            testbed.supervisor.log.warning("start_workflow rejected (workflow %s, config %s, by %s): %s",
                                           workflow, config, executed_by, exc)
            raise

    async def _start_workflow(
        self, testbed: RunningTestbed, workflow: str, config: str, parameters: dict[str, Any] | None, realtime: bool,
        executed_by: str, reason: str | None,
    ) -> ExecutionRecord:
        state = self.state
        namespace = testbed.namespace
        try:  # the namespace's own definitions first, then the built-ins; never another namespace's
            scope, definition = registry.resolve(workflow, namespace=namespace)
        except WorkflowError as exc:
            raise InvalidRequest(f"workflow: {exc}") from exc
        workflow_params, testbed_params = TestbedKnobs.split(parameters or {})
        task_workflow = task_workflow_of(definition)
        try:
            if task_workflow is not None:  # a generated task workflow: its own directory and parameter model
                expanded = expand_config(config, workflows_dir=task_workflow.directory or state.workflows_dir, testbed=None,
                                         parameters=workflow_params, namespace=namespace,
                                         parameter_model=definition.parameter_model)
            else:
                expanded = expand_config(config, workflows_dir=state.workflows_dir,
                                         testbed=_testbed_file(state.workflows_dir, testbed.config),
                                         parameters=workflow_params, namespace=namespace)
        except WorkflowError as exc:
            extra = ""
            if "unknown parameter" in str(exc):
                extra = f"; testbed parameters: {', '.join(sorted(TestbedKnobs.model_fields))}"
            raise InvalidRequest(f"{exc}{extra}") from exc
        if expanded.workflow_name and expanded.workflow_name != workflow:
            raise InvalidRequest(
                f"config: {config!r} is a config of workflow {expanded.workflow_name!r}, not {workflow!r}; "
                f"pass workflow={expanded.workflow_name!r} or another config"
            )
        if not executed_by:
            raise InvalidRequest("executed_by: must not be empty")
        bus = state.connected_bus()
        effective = {**expanded.parameters.model_dump(mode="json"), **testbed_params}
        state.limits.check_parameters(effective, realtime=realtime)
        if task_workflow is not None:
            state.limits.check("parameters", task_workflow.planned_tasks(expanded.parameters), "max_tasks_per_workflow",
                               what="tasks planned")
            task_workers = task_workflow.settings().workers()
            await self._task_workers(testbed, task_workers.count, task_workers.module)
        await self.store.definitions.register(definition.name, definition.version, definition.source,
                                              definition.parameter_schema(), definition.description, namespace=scope)
        async with state.admission:
            running = await self.store.executions.list(executed_by=executed_by, currently_running=True, limit=1)
            state.limits.check("workflow", running.total + 1, "max_running_executions_per_user",
                               what=f"pending or running executions of {executed_by!r} with this one")
            record = await self.store.executions.create(
                workflow, namespace, executed_by, expanded.model_dump(mode="json"), expanded.config_hash,
                definition.source_hash, effective, realtime, reason=reason, node=state.node_name,
                definition_version=definition.version,
            )
        await bus.publish(Destinations.of(namespace).workflow_control,
                          RunWorkflow(namespace=namespace, execution_id=record.execution_id).model_dump(mode="json"))
        return record

    async def _task_workers(self, testbed: RunningTestbed, count: int, module: str = WORKER_MODULE) -> None:
        """Grow the namespace's task worker pool to ``count`` (bounded): in-process, or child processes
        running ``module`` (as the workflow's config names it; see :func:`agents.tasks.pool.worker_module`)."""
        state = self.state
        try:
            worker_module(module)  # a name that is no task worker is refused, whichever workflow asks
            if testbed.task_workers is None:
                testbed.task_workers = TaskWorkerPool(testbed.namespace, mode=state.mode, bus=state.bus,
                                                     stomp=state.stomp, module=module, sandbox=state.sandbox)
            started = await testbed.task_workers.ensure(state.bounded(count))
        except Exception as exc:
            raise InvalidRequest(f"task workers: {exc}; check the broker and [agents.task_workers] in agents.toml") from exc
        if started:
            testbed.supervisor.log.info("testbed %s: %d task worker(s) started (%s), %d in all", testbed.namespace,
                                        started, state.mode, testbed.task_workers.size)

    # --- stop --------------------------------------------------------------------------------

    async def execution(self, execution_id: str) -> ExecutionRecord:
        """The execution's record; :class:`ExecutionNotFound` when there is none."""
        try:
            return await self.store.executions.get(execution_id)
        except NotFound:
            raise ExecutionNotFound(execution_id) from None

    async def stop_workflow(self, execution_id: str, reason: str | None = None, timeout_s: float = 15.0) -> ExecutionRecord:
        """Stop an execution: the runner broadcasts end_run and closes it ``terminated``.

        If the runner cannot (it is down), the execution and its run are closed here, so
        nothing stays running. Stopping a finished execution returns it unchanged.
        """
        record = await self.execution(execution_id)
        if record.status in TERMINAL_STATUSES:
            return record
        testbed = self.state.testbeds.get(record.namespace)
        bus = self.state.bus
        why = reason or "stopped by request"
        if testbed is not None and bus is not None:
            await bus.publish(
                Destinations.of(record.namespace).workflow_control,
                StopWorkflow(namespace=record.namespace, execution_id=execution_id, reason=why).model_dump(mode="json"),
            )
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                record = await self.execution(execution_id)
                if record.status in TERMINAL_STATUSES:
                    return record
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        await testbed.changed.wait()
        if record.run_number is not None:
            with contextlib.suppress(NotFound):
                run = await self.store.runs.get_run(record.run_number)
                if run.status == "running":
                    await self.store.runs.end_run(record.run_number, record.stf_count)
        return await self.store.executions.set_status(
            execution_id, "terminated", error=f"{why} (closed by the testbed manager: the workflow runner did not answer)"
        )

    async def on_agent_down(self, spec: AgentSpec, reason: str) -> None:
        """The supervisor saw an agent end unasked. A dead workflow runner cannot close its
        executions: close them here, at once, ``failed`` with the reason (their runs ended)."""
        if spec.agent_type != CORE_AGENT:
            return
        running = await self.store.executions.list(namespace=spec.namespace, currently_running=True, limit=200)
        if not running.items:
            return
        error = f"the workflow runner {spec.name} ended while the execution ran ({reason}); start it again"
        closed = await self.store.executions.close_running(namespace=spec.namespace, status="failed", error=error)
        testbed = self.state.testbeds.get(spec.namespace)
        if testbed is not None:
            testbed.supervisor.log.error("closed %d execution(s) of %s as failed: %s", closed, spec.namespace, error)
        bus = self.state.bus
        if bus is not None:
            for record in running.items:
                with contextlib.suppress(Exception):
                    await bus.publish(Destinations.of(spec.namespace).execution, ExecutionStatusChanged(
                        namespace=spec.namespace, execution_id=record.execution_id, event="failed", status="failed",
                        phase=record.phase, run_number=record.run_number, stf_count=record.stf_count, error=error,
                    ).model_dump(mode="json"), persistent=False)

    # --- wait and watch ----------------------------------------------------------------------

    async def wait_for_execution(
        self,
        execution_id: str,
        timeout_s: float,
        on_progress: ProgressCallback | None = None,
    ) -> ExecutionRecord:
        """Wait until the execution ends AND its processing drained, or ``timeout_s`` passes.

        ``on_progress`` gets a snapshot on every phase or STF change and at least every second.
        Without it, nothing is counted while the execution runs: the wait reads the execution's
        record when the execution topic announces an end, or once a second, so a waiter does not
        take CPU from the run it waits for. The drain wait after the end is bounded by
        ``drain_timeout_s``. Returns the record as it is then (still running if the timeout passed).
        """
        if timeout_s < 0:
            raise InvalidRequest(f"timeout_s: must be >= 0, got {timeout_s}")
        record = await self.execution(execution_id)
        started = time.monotonic()
        deadline = started + timeout_s
        ended_at: float | None = None
        last_key: tuple[Any, ...] | None = None
        last_sent = 0.0
        while True:
            record = await self.execution(execution_id)
            testbed = self.state.testbeds.get(record.namespace)
            ended = record.status in TERMINAL_STATUSES
            drained = False
            if on_progress is not None or ended:  # counting is for the callback and the drain check
                progress = await self._progress(record, testbed, time.monotonic() - started)
                drained = progress.drained
                key = (progress.status, progress.phase, progress.stf_count, progress.tf_samples,
                       tuple(sorted(progress.slices.items())), progress.drained)
            now = time.monotonic()
            if on_progress is not None and (key != last_key or now - last_sent >= 1.0):
                last_key, last_sent = key, now
                await on_progress(progress)
            if ended:
                ended_at = ended_at or now
                if drained or testbed is None or now - ended_at >= self.state.drain_timeout_s:
                    return record
            if now >= deadline:
                return record
            wait = min(deadline - now, 1.0)
            if testbed is None:
                await asyncio.sleep(min(wait, PROGRESS_MIN_GAP_S))
            elif on_progress is None and not ended and execution_id not in testbed.finished:
                # nothing to report while it runs: wake on its end (the execution topic), or in a second
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await testbed.ends.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await testbed.changed.wait()
                # events come in bursts (heartbeats, STFs): look again at most 5 times a second,
                # but at once when this execution has ended or drained
                pause = min(PROGRESS_MIN_GAP_S - (time.monotonic() - now), deadline - time.monotonic())
                if pause > 0 and execution_id not in testbed.finished and execution_id not in testbed.drained:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(pause):
                            await testbed.ends.wait()

    async def progress(self, execution_id: str) -> ExecutionProgress:
        """A snapshot of the execution now: status, phase, counts, and whether it has drained."""
        record = await self.execution(execution_id)
        return await self._progress(record, self.state.testbeds.get(record.namespace), 0.0)

    async def _progress(self, record: ExecutionRecord, testbed: RunningTestbed | None,
                        elapsed_s: float) -> ExecutionProgress:
        execution_id = record.execution_id
        slices = await self.store.runs.slice_counts(execution_id)
        samples = (await self.store.runs.list_tf_samples(execution_id=execution_id, limit=1)).total
        drained = await self._drained(record, testbed, samples, slices)
        expected = record.parameters.get("stf_count") or None
        return ExecutionProgress(
            execution_id=execution_id, status=record.status, phase=record.phase, run_number=record.run_number,
            stf_count=record.stf_count, stf_expected=expected, tf_samples=samples, slices=slices,
            drained=drained, elapsed_s=round(elapsed_s, 3),
        )

    async def _drained(self, record: ExecutionRecord, testbed: RunningTestbed | None, samples: int,
                       slices: dict[str, int]) -> bool:
        """Whether everything downstream of the run is resolved (see docs/testbed.md)."""
        if record.status not in TERMINAL_STATUSES:
            return False
        if testbed is None or record.run_number is None:
            return True
        types = testbed.agent_types
        if "fast_processing" in types and record.execution_id in testbed.drained:
            return True
        stf_total = record.stf_count
        if "data" in types:
            registered = (await self.store.runs.list_stf(execution_id=record.execution_id, limit=1)).total
            if registered < stf_total:
                return False
        if "processing" in types:
            done = 0
            for status in ("processed", "failed"):
                done += (await self.store.runs.list_stf(execution_id=record.execution_id, status=status, limit=1)).total
            if done < stf_total:
                return False
        if "fastmon" in types and samples < stf_total:
            return False
        if "fast_processing" in types and "fastmon" in types:
            per_sample = int(record.parameters.get("slices_per_sample", SLICES_PER_SAMPLE))
            resolved = slices.get("done", 0) + slices.get("failed", 0)
            if resolved < samples * per_sample:
                return False
        return True

    async def monitor(self, execution_id: str) -> WorkflowMonitor:
        """One execution on one page: status, DAQ phase, run, counts by status, events, errors, latency."""
        record = await self.execution(execution_id)
        store = self.store
        stf_files: dict[str, int] = {}
        for status in ("registered", "ready", "processed", "failed"):
            total = (await store.runs.list_stf(execution_id=execution_id, status=status, limit=1)).total
            if total:
                stf_files[status] = total
        samples = (await store.runs.list_tf_samples(execution_id=execution_id, limit=1)).total
        slices = await store.runs.slice_counts(execution_id)
        received = await store.counters.current(f"{RECEIVED_COUNTER}:{execution_id}") or 0
        run_status = None
        p50 = p99 = None
        workers_active = workers_target = None
        if record.run_number is not None:
            with contextlib.suppress(NotFound):
                run_status = (await store.runs.get_run(record.run_number)).status
            with contextlib.suppress(NotFound):
                run_state = await store.runs.get_run_state(record.run_number)
                p50, p99 = run_state.latency_p50_ms, run_state.latency_p99_ms
                workers_active, workers_target = run_state.workers_active, run_state.workers_target
        events = (await store.events.list_state_events(execution_id=execution_id, limit=20)).items
        errors = (await store.logs.list_logs(execution_id=execution_id, min_level=logging.ERROR, limit=20)).items
        end = record.end_time or datetime.now(UTC)
        return WorkflowMonitor(
            execution_id=execution_id, namespace=record.namespace, workflow_name=record.workflow_name,
            status=record.status, phase=record.phase, run_number=record.run_number, run_status=run_status,
            realtime=record.realtime, stf_count=record.stf_count,
            stf_expected=record.parameters.get("stf_count") or None, stf_files=stf_files, tf_samples=samples,
            slices=slices, slice_results_received=received, workers_active=workers_active, workers_target=workers_target,
            slice_latency_p50_ms=p50, slice_latency_p99_ms=p99, recent_events=list(events), errors=list(errors),
            error=record.error, start_time=record.start_time, end_time=record.end_time,
            duration_s=round((end - record.start_time).total_seconds(), 3), parameters=record.parameters,
        )


def _testbed_file(workflows_dir: Path, config: str) -> str | None:
    name = f"{config.removesuffix('.toml')}.toml"
    return name if (workflows_dir / name).is_file() else None
