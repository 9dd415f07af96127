"""The DAG scheduler: sends a plan's tasks to the workers and collects their results.

A group (stage, round) is sent as soon as every group it waits for is done: all its ``count``
tasks go to the ``tasks`` queue at once and the broker spreads them over the workers (fan-out);
the group is done when all of them succeeded (fan-in). Nothing polls: every step happens in the
handler of a result or of a timeout.

Failure policy:

* a task whose result is ``failed`` or ``timeout`` is sent again (``attempt`` + 1) until it has
  run ``retries + 1`` times; then the workflow fails, naming the task, its attempts and last error;
* the timeout clock of an attempt starts when a worker reports ``task_started``; if no result
  arrives within ``timeout_s + grace_s`` the attempt counts as ``timeout`` (a hung worker);
* after a failure no new task is sent; tasks already sent are waited for (so no result is left
  behind), then the summary is returned. :meth:`TaskScheduler.stop` returns at once (``terminated``).

Results are keyed by ``(task_id, attempt)``: duplicates (a redelivered task run twice) and late
results of an attempt that already timed out are counted in ``duplicates`` and otherwise ignored.

Example::

    async with bus_from_url("embedded") as bus:
        workers = [TaskWorker(bus, "ns1", name=f"w{i}") for i in range(4)]
        for w in workers:
            await w.start()
        summary = await TaskScheduler(plan, bus, namespace="ns1", execution_id="demo-1").run()
        summary.status, summary.stage_runs
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from typing import Any

from pydantic import ValidationError

from agents.tasks.worker import tasks_destination
from agents.testbed.bus.base import Bus, Delivery, Subscription, destination
from workflows.tasks.messages import Mode, TaskMessage, TaskResult, TaskStarted
from workflows.tasks.plan import Group, TaskPlan
from workflows.tasks.summary import EventSink, RunStatus, TaskRecord, TaskRunSummary

__all__ = ["EventSink", "RunStatus", "TaskRecord", "TaskRunSummary", "TaskScheduler", "results_destination",
           "task_id_of"]


def results_destination(namespace: str, execution_id: str) -> str:
    """The queue one execution's started/result messages come back on."""
    key = re.sub(r"[^a-z0-9_.-]", "-", execution_id.lower()).strip(".-_") or "x"
    if len(key) > 40:
        key = key[:31] + "-" + hashlib.sha256(execution_id.encode()).hexdigest()[:8]
    return destination(namespace, "queue", f"task_results.{key}")


def task_id_of(stage: str, round_: int, index: int) -> str:
    """The id of a task: ``stage.rROUND.iINDEX``."""
    return f"{stage}.r{round_}.i{index}"


class TaskScheduler:
    """Runs one task plan once over a bus. Create, ``await run()``; ``stop()`` from any coroutine."""

    def __init__(
        self,
        plan: TaskPlan,
        bus: Bus,
        *,
        namespace: str,
        execution_id: str,
        mode: Mode = "realtime",
        grace_s: float = 2.0,
        on_event: EventSink | None = None,
    ) -> None:
        self.plan = plan
        self.bus = bus
        self.namespace = namespace
        self.execution_id = execution_id
        self.mode = mode
        self.grace_s = grace_s
        self.on_event = on_event
        self.reply_to = results_destination(namespace, execution_id)
        self._tasks_queue = tasks_destination(namespace)
        self.tasks: dict[str, TaskRecord] = {}
        self._waiting = {g: set(w) for g, w in plan.after.items()}
        self._dependents: dict[Group, list[Group]] = {}
        for group in plan.order:
            for w in plan.after[group]:
                self._dependents.setdefault(w, []).append(group)
        self._remaining = {g: plan.stages[g[0]].count for g in plan.order}
        self._groups_left = len(plan.order)
        self._in_flight = 0
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._failure: str | None = None
        self._stopped: str | None = None
        self._done = asyncio.Event()
        self._retries = 0
        self._duplicates = 0
        self._started_at = 0.0
        self._ran = False

    def stop(self, reason: str = "stopped by request") -> None:
        """End the run now: nothing more is sent and :meth:`run` returns ``terminated``."""
        if self._stopped is None:
            self._stopped = reason
        self._done.set()

    async def run(self) -> TaskRunSummary:
        """Send the tasks, wait for the plan to finish, fail or stop; return the summary."""
        if self._ran:
            raise RuntimeError("a TaskScheduler runs once; create a new one per execution")
        self._ran = True
        self._started_at = time.monotonic()
        subscription: Subscription = await self.bus.subscribe(self.reply_to, self._on_message, ack="auto",
                                                              prefetch=1000)
        try:
            self._event("task_workflow_started", total_tasks=self.plan.total_tasks, groups=len(self.plan.order))
            if self._stopped is None:
                for group in self.plan.order:
                    if not self._waiting[group]:
                        await self._send_group(group)
            await self._done.wait()
        finally:
            await subscription.cancel()
            for timer in self._timers.values():
                timer.cancel()
            for task in list(self._background):
                task.cancel()
        summary = self._summary()
        self._event("task_workflow_ended", status=summary.status, reason=summary.reason, failed=summary.failed,
                    duration_s=round(summary.duration_s, 6))
        return summary

    # --- sending --------------------------------------------------------------------------------

    async def _send_group(self, group: Group) -> None:
        stage_id, round_ = group
        stage = self.plan.stages[stage_id]
        self._event("group_started", stage=stage_id, round=round_, count=stage.count)
        for index in range(stage.count):
            record = TaskRecord(task_id_of(stage_id, round_, index), stage_id, round_, index)
            self.tasks[record.task_id] = record
            await self._send(record)

    async def _send(self, record: TaskRecord) -> None:
        stage = self.plan.stages[record.stage]
        record.attempts += 1
        record.state = "sent"
        self._in_flight += 1
        message = TaskMessage(
            task_id=record.task_id, execution_id=self.execution_id, stage=record.stage, index=record.index,
            round=record.round, attempt=record.attempts, payload=stage.payload.render(record.index, record.round),
            timeout_s=stage.timeout_s, mode=self.mode, reply_to=self.reply_to,
        )
        await self.bus.publish(self._tasks_queue, message.model_dump(mode="json"),
                               headers={"msg_type": "task", "execution_id": self.execution_id})

    # --- receiving ------------------------------------------------------------------------------

    async def _on_message(self, delivery: Delivery) -> None:
        body = delivery.body
        try:
            if body.get("msg_type") == "task_started":
                self._on_started(TaskStarted.model_validate(body))
            else:
                await self._on_result(TaskResult.model_validate(body))
        except ValidationError:
            self._duplicates += 1  # not ours to understand; counted, never crashes the run

    def _current(self, task_id: str, attempt: int) -> TaskRecord | None:
        record = self.tasks.get(task_id)
        if record is None or record.attempts != attempt or record.state not in ("sent", "running"):
            self._duplicates += 1
            return None
        return record

    def _on_started(self, started: TaskStarted) -> None:
        record = self._current(started.task_id, started.attempt)
        if record is None:
            return
        record.state = "running"
        record.worker = started.worker
        timeout = self.plan.stages[record.stage].timeout_s
        previous = self._timers.pop(record.task_id, None)
        if previous is not None:  # a redelivered task started again on another worker: restart the clock
            previous.cancel()
        if timeout is not None:
            loop = asyncio.get_running_loop()
            self._timers[record.task_id] = loop.call_later(timeout + self.grace_s, self._expire, record.task_id,
                                                           record.attempts, timeout)

    def _expire(self, task_id: str, attempt: int, timeout: float) -> None:
        record = self.tasks[task_id]
        result = TaskResult(task_id=task_id, attempt=attempt, worker=record.worker or "?", status="timeout",
                            error=f"no result within {timeout} s (+{self.grace_s} s grace) of the start on "
                                  f"{record.worker}; the worker is hung or gone")
        task = asyncio.get_running_loop().create_task(self._on_result(result))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_result(self, result: TaskResult) -> None:
        record = self._current(result.task_id, result.attempt)
        if record is None:
            return
        timer = self._timers.pop(record.task_id, None)
        if timer is not None:
            timer.cancel()
        self._in_flight -= 1
        record.worker = result.worker
        record.duration_s += result.duration_s
        if result.status == "succeeded":
            record.state = "succeeded"
            record.outputs, record.metrics = result.outputs, result.metrics
            await self._task_done(record)
        else:
            record.error = result.error or result.status
            stage = self.plan.stages[record.stage]
            if record.attempts <= stage.retries and self._failure is None and self._stopped is None:
                self._retries += 1
                self._event("task_retried", task_id=record.task_id, attempt=record.attempts, error=record.error)
                await self._send(record)
            else:
                record.state = "failed"
                self._event("task_failed", task_id=record.task_id, attempts=record.attempts, error=record.error)
                if self._failure is None:
                    self._failure = (f"task {record.task_id} failed after {record.attempts} attempt(s): "
                                     f"{record.error}")
        self._check_end()

    async def _task_done(self, record: TaskRecord) -> None:
        group = (record.stage, record.round)
        self._remaining[group] -= 1
        if self._remaining[group]:
            return
        self._groups_left -= 1
        self._event("group_done", stage=record.stage, round=record.round)
        if self._failure is not None or self._stopped is not None:
            return
        for dependent in self._dependents.get(group, ()):
            waits = self._waiting[dependent]
            waits.discard(group)
            if not waits:
                await self._send_group(dependent)

    def _check_end(self) -> None:
        if self._groups_left == 0 or (self._failure is not None and self._in_flight == 0):
            self._done.set()

    # --- reporting ------------------------------------------------------------------------------

    def _event(self, msg_type: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event({"msg_type": msg_type, "namespace": self.namespace, "execution_id": self.execution_id,
                           **fields})

    def _summary(self) -> TaskRunSummary:
        status: RunStatus
        if self._stopped is not None:
            status, reason = "terminated", self._stopped
        elif self._failure is not None:
            status, reason = "failed", self._failure
        else:
            status, reason = "completed", None
        records = sorted(self.tasks.values(), key=lambda r: (r.stage, r.round, r.index))
        stage_runs = {s: 0 for s in self.plan.stages}
        outputs: list[str] = []
        metrics: dict[str, float] = {}
        for record in records:
            if record.state == "succeeded":
                stage_runs[record.stage] += 1
                outputs.extend(record.outputs)
        for group in self.plan.order:  # later groups' metrics override earlier ones
            for record in (r for r in records if (r.stage, r.round) == group and r.state == "succeeded"):
                metrics.update(record.metrics)
        return TaskRunSummary(
            status=status, reason=reason, duration_s=time.monotonic() - self._started_at,
            compute_s=sum(r.duration_s for r in records), stage_runs=stage_runs,
            failed=sum(1 for r in records if r.state == "failed"), retries=self._retries,
            duplicates=self._duplicates, outputs=outputs, metrics=metrics, tasks=records,
        )
