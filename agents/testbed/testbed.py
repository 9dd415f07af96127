"""The testbed manager: start and stop testbeds, run workflows, watch and steer them.

One :class:`TestbedManager` per execution node. A *testbed* is the set of agents of one
namespace: the workflow runner, the agents its testbed config enables (``[agents.NAME]
enabled = true`` in e.g. ``testbed.toml``) and, with fast processing, a pool of slice workers
(``[agents.worker] count = N`` to start with; the fast processing agent scales it, bounded by
the manager's ``worker_limit``). Agents run in-process (``mode="inprocess"``: asyncio tasks on
the manager's bus) or as child processes (``mode="process"``: STOMP to ``stomp``, store at
``database_url``), under one :class:`~agents.testbed.framework.supervisor.Supervisor` per namespace.

The manager listens, per namespace, to the heartbeat topic (readiness without polling the
store), the execution topic (so :meth:`TestbedManager.wait_for_execution` wakes on every
change) and the testbed_control topic (``scale_workers``).

At enter it closes what the store says this node was running before (a previous process of the
node): executions -> terminated with an error saying the node restarted, agents -> EXITED,
agent processes still alive -> stopped (their process group), testbed -> stopped. Running agents
are not re-adopted: a node restart starts testbeds afresh. At exit it stops every testbed.

Example::

    async with TestbedManager(store=store, bus_factory=EmbeddedBus, mode="inprocess", node_name="local") as m:
        await m.start_testbed("ns1")
        record = await m.start_workflow("ns1", parameters={"stf_count": 5})
        record = await m.wait_for_execution(record.execution_id, timeout_s=60)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from agents.testbed.framework.agent import AgentContext
from agents.testbed.bus.base import Bus, Delivery, Subscription
from agents.testbed.catalog import AGENT_TYPES
from agents.testbed.configs import resolve_testbed_config
from agents.testbed.framework.destinations import Destinations
from agents.testbed.kinds.fast_processing import RECEIVED_COUNTER
from agents.testbed.errors import (
    AgentNotFound,
    ExecutionNotFound,
    InvalidRequest,
    TestbedError,
    TestbedNotRunning,
)
from agents.testbed.messages import (
    ExecutionStatusChanged,
    Heartbeat,
    RunWorkflow,
    ScaleWorkers,
    StopWorkflow,
)
from agents.testbed.parameters import TESTBED_PARAMETERS
from agents.testbed.framework.runners.base import AgentRunner, AgentSpec
from agents.testbed.framework.runners.inprocess import InProcessRunner
from agents.testbed.framework.runners.process import ProcessRunner, child_command, kill_group
from agents.tasks.pool import WORKER_MODULE, TaskWorkerPool, worker_module
from agents.testbed.framework.status import AgentState, ExecutionProgress, TestbedStatus, WorkflowMonitor
from agents.testbed.framework.supervisor import WORKER, Supervisor
from workflows.config import DEFAULT_WORKFLOWS_DIR, expand_config
from workflows.definitions import registry
from workflows.limits import Limits
from workflows.tasks.bridge import task_workflow_of
from workflows.tasks.sandbox import Sandbox
from workflows.errors import WorkflowError
from workflows.store.errors import NotFound
from workflows.store.records import TERMINAL_STATUSES, AgentRecord, ExecutionRecord

Mode = Literal["inprocess", "process"]
ProgressCallback = Callable[[ExecutionProgress], Awaitable[None]]
NODE_RESTART_ERROR = "the execution node restarted while this execution was running; start it again"
CORE_AGENT = "workflow_runner"
PROGRESS_MIN_GAP_S = 0.2


@dataclass
class _Testbed:
    """A running testbed (in memory)."""

    namespace: str
    config: str
    mode: Mode
    started_by: str
    started_at: datetime
    supervisor: Supervisor
    agent_types: set[str]
    slices_per_sample: int = 15
    subscriptions: list[Subscription] = field(default_factory=list)
    beats: dict[str, Heartbeat] = field(default_factory=dict)
    drained: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    ends: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    status: Literal["starting", "ready", "stopping", "stopped", "failed"] = "starting"
    task_workers: TaskWorkerPool | None = None

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class TestbedManager:
    """Starts, stops and steers the testbeds of one node (see the module docstring)."""

    __test__ = False

    def __init__(
        self,
        *,
        store: Any,
        bus_factory: Callable[[], Bus],
        mode: Mode,
        node_name: str,
        workflows_dir: Path | None = None,
        stomp: tuple[str, int] | None = None,
        database_url: str | None = None,
        database_schema: str | None = None,
        heartbeat_interval_s: float = 60.0,
        worker_limit: int | None = None,
        limits: Limits | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        ready_timeout_s: float = 60.0,
        drain_timeout_s: float = 30.0,
        sandbox: Sandbox | None = None,
    ) -> None:
        if mode not in ("inprocess", "process"):
            raise InvalidRequest(f"mode {mode!r} is not valid: use 'inprocess' or 'process'")
        if mode == "process" and (stomp is None or database_url is None):
            raise InvalidRequest("mode 'process' needs stomp=(host, port) and database_url for the child processes")
        self.store = store
        self.bus_factory = bus_factory
        self.mode: Mode = mode
        self.node_name = node_name
        self.workflows_dir = workflows_dir or DEFAULT_WORKFLOWS_DIR
        self.stomp = stomp
        self.database_url = database_url
        self.database_schema = database_schema
        self.heartbeat_interval_s = heartbeat_interval_s
        self.worker_limit = worker_limit
        self.limits = limits or Limits()
        self._admission = asyncio.Lock()  # a per-user count check and the entry it admits, together
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.ready_timeout_s = ready_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self.sandbox = sandbox  # how task workers run caller code (workflows.tasks.sandbox)
        self.bus: Bus | None = None
        self._testbeds: dict[str, _Testbed] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.log = logging.getLogger("controlroom.testbed")

    # --- lifespan ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.bus = self.bus_factory()
        await self.bus.connect()
        await self._recover()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for namespace in list(self._testbeds):
            with contextlib.suppress(Exception):
                await self.stop_testbed(namespace, reason="the execution node is shutting down")
        if self.bus is not None:
            await self.bus.close()
            self.bus = None

    async def _recover(self) -> None:
        """Close what a previous process of this node left running (see the module docstring)."""
        for record in await self.store.agents.list_testbeds():
            if record.node != self.node_name or record.status in ("stopped", "failed"):
                continue
            for info in (record.agents or {}).values():
                pid = info.get("pid") if isinstance(info, dict) else None
                if record.mode == "process" and isinstance(pid, int) and _is_our_child(pid):
                    kill_group(pid, signal.SIGTERM)
            await self.store.executions.close_running(namespace=record.namespace, status="terminated",
                                                      error=NODE_RESTART_ERROR)
            page = await self.store.agents.list_agents(namespace=record.namespace, limit=200)
            for agent in page.items:
                if agent.status != "EXITED":
                    await self.store.agents.upsert_agent(
                        name=agent.name, namespace=agent.namespace, agent_type=agent.agent_type, status="EXITED",
                        mode=agent.mode, detail="the execution node restarted",
                    )
            await self.store.agents.upsert_testbed(record.namespace, record.config_name, "stopped", mode=record.mode,
                                                   node=self.node_name)
            self.log.warning("closed testbed %s left running by a previous node process", record.namespace)

    # --- testbeds ----------------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        """Namespaces with a running testbed on this node, sorted."""
        return sorted(self._testbeds)

    async def start_testbed(
        self,
        namespace: str,
        config: str = "testbed",
        started_by: str = "anonymous",
        reason: str | None = None,
    ) -> TestbedStatus:
        """Start the agents ``config`` enables in ``namespace`` and wait until they are ready.

        A testbed already running in the namespace is not started twice: its status comes back
        with ``already_running=True``.
        """
        _check_namespace(namespace)
        async with self._lock(namespace):
            if namespace in self._testbeds:
                # kept in the namespace's app_logs, so a debugger sees the refused start later
                self._testbeds[namespace].supervisor.log.warning(
                    "start_testbed refused: a testbed is already running in namespace %s (asked by %s, config %s)",
                    namespace, started_by, config)
                status = await self.testbed_status(namespace)
                return status.model_copy(update={"already_running": True,
                                                 "message": "a testbed is already running in this namespace"})
            try:  # a testbed config, or the workflow config the caller means to run (agents/testbed/configs.py)
                resolved = resolve_testbed_config(self.workflows_dir, config)
            except WorkflowError as exc:
                raise InvalidRequest(f"config: {exc}; name a testbed config (e.g. 'testbed') or a workflow "
                                     "config (list_workflow_definitions shows them)") from exc
            testbed_file, config = resolved.file, resolved.testbed
            specs, workers = self._specs(namespace, testbed_file.agents)
            assert self.bus is not None, "use the manager as an async context manager"
            async with self._admission:  # the count check and the entry it admits, together: concurrent starts queue
                self.limits.check("namespace", sum(1 for t in self._testbeds.values() if t.started_by == started_by) + 1,
                                  "max_testbeds_per_user", what=f"running testbeds of {started_by!r} with this one")
                await self.store.namespaces.ensure(namespace)
                await self.store.agents.upsert_testbed(namespace, config, "starting", mode=self.mode, node=self.node_name,
                                                       started_by=started_by, agents={})
                supervisor = Supervisor(
                    namespace, store=self.store, make_runner=self._runner_factory(), mode=self.mode,
                    backoff_initial_s=self.backoff_initial_s, backoff_max_s=self.backoff_max_s,
                    on_agent_down=self._on_agent_down,
                )
                testbed = _Testbed(namespace=namespace, config=config, mode=self.mode, started_by=started_by,
                                   started_at=datetime.now(UTC), supervisor=supervisor,
                                   agent_types={s.agent_type for s in specs})
                self._testbeds[namespace] = testbed
            to = Destinations.of(namespace)
            testbed.subscriptions += [
                await self.bus.subscribe(to.heartbeat, lambda d, t=testbed: self._on_heartbeat(t, d)),
                await self.bus.subscribe(to.execution, lambda d, t=testbed: self._on_execution(t, d)),
                await self.bus.subscribe(to.testbed_control, lambda d, t=testbed: self._on_control(t, d)),
            ]
            supervisor.log.info("testbed %s starting (%s mode, config %s) by %s%s", namespace, self.mode, config,
                                started_by, f": {reason}" if reason else "")
            await supervisor.start(specs)
            if workers:
                await supervisor.scale_workers(self._bounded(workers), "initial pool")
            ready = await self._wait_ready(testbed, self.ready_timeout_s)
            testbed.status = "ready" if ready else "starting"
            await self._record_testbed(testbed)
            status = await self.testbed_status(namespace)
            status = status.model_copy(update={"config_kind": resolved.kind, "workflow_config": resolved.workflow_config})
            if not ready:
                status = status.model_copy(update={"message": f"not every agent was READY within {self.ready_timeout_s:.0f} s"})
            return status

    def _specs(self, namespace: str, agents: dict[str, dict[str, Any]]) -> tuple[list[AgentSpec], int]:
        specs = [AgentSpec(CORE_AGENT, namespace, "1")]
        workers = 0
        for agent_type, table in agents.items():
            if not table.get("enabled", True):
                continue
            if agent_type == WORKER:
                workers = int(table.get("count", 1))
                continue
            if agent_type not in AGENT_TYPES or agent_type == CORE_AGENT:
                known = ", ".join(sorted(set(AGENT_TYPES) - {CORE_AGENT}))
                raise InvalidRequest(f"config: [agents.{agent_type}] is not a known agent type; use one of {known}")
            options = {k: v for k, v in table.items() if k not in ("enabled", "script")}
            specs.append(AgentSpec(agent_type, namespace, "1", options))
        if any(s.agent_type == "fast_processing" for s in specs) and workers == 0:
            workers = 1
        return specs, workers

    def _runner_factory(self) -> Callable[[AgentSpec], AgentRunner]:
        if self.mode == "inprocess":
            bus = self.bus

            def context_for(spec: AgentSpec) -> AgentContext:
                return AgentContext(namespace=spec.namespace, bus=bus, store=self.store,  # type: ignore[arg-type]
                                    agent_id=spec.agent_id, mode="inprocess",
                                    heartbeat_interval_s=self.heartbeat_interval_s, options=spec.options)

            return lambda spec: InProcessRunner(spec, context_for)

        log = logging.getLogger("controlroom.testbed.children")

        def make(spec: AgentSpec) -> AgentRunner:
            command = child_command(spec, stomp=self.stomp, database_url=self.database_url,  # type: ignore[arg-type]
                                    heartbeat_interval_s=self.heartbeat_interval_s,
                                    database_schema=self.database_schema)
            testbed = self._testbeds.get(spec.namespace)
            return ProcessRunner(spec, command, testbed.supervisor.log if testbed else log)

        return make

    async def stop_testbed(self, namespace: str, reason: str | None = None) -> TestbedStatus:
        """Stop the namespace's workflows (end_run is broadcast) and agents; no process is left."""
        _check_namespace(namespace)
        async with self._lock(namespace):
            testbed = self._testbeds.get(namespace)
            if testbed is None:
                raise TestbedNotRunning(namespace)
            testbed.status = "stopping"
            await self._record_testbed(testbed)
            why = reason or "the testbed was stopped"
            running = await self.store.executions.list(namespace=namespace, currently_running=True, limit=200)
            # every step below is bounded (docs/testbed.md, "How a stop proceeds")
            await asyncio.gather(*(self._bounded_step(self.stop_workflow(r.execution_id, reason=why, timeout_s=10.0),
                                                      12.0, f"stop_workflow {r.execution_id}")
                                   for r in running.items))
            testbed.supervisor.log.info("testbed %s stopping%s", namespace, f": {reason}" if reason else "")
            for subscription in testbed.subscriptions:
                await self._bounded_step(subscription.cancel(), 5.0, "cancel a subscription")
            await testbed.supervisor.stop()
            if testbed.task_workers is not None:
                await self._bounded_step(testbed.task_workers.stop(), 30.0, "stop the task workers")
            # rows an abandoned agent (or a store write cut by its bound) left behind say EXITED too
            await self._bounded_step(self._exited_rows(namespace), 30.0, "mark the agents EXITED")
            await self.store.executions.close_running(namespace=namespace, status="terminated",
                                                      error=f"the testbed was stopped: {why}")
            testbed.status = "stopped"
            await self.store.agents.upsert_testbed(namespace, testbed.config, "stopped", mode=self.mode,
                                                   node=self.node_name, agents={})
            del self._testbeds[namespace]
            return await self.testbed_status(namespace)

    async def _exited_rows(self, namespace: str) -> None:
        page = await self.store.agents.list_agents(namespace=namespace, limit=200)
        for agent in page.items:
            if agent.status != "EXITED":
                await self.store.agents.upsert_agent(name=agent.name, namespace=namespace, agent_type=agent.agent_type,
                                                     status="EXITED", mode=agent.mode, detail="stopped with the testbed")

    async def _bounded_step(self, step: Awaitable[Any], bound_s: float, what: str) -> None:
        """One step of a stop: given ``bound_s``, then abandoned with a warning (a stop always ends)."""
        try:
            await asyncio.wait_for(step, bound_s)
        except Exception as exc:  # noqa: BLE001 - the stop goes on; what is left is closed below
            self.log.warning("stop: %s did not complete (%s: %s); going on", what, type(exc).__name__, exc)

    async def _on_agent_down(self, spec: AgentSpec, reason: str) -> None:
        """The supervisor saw an agent end unasked. A dead workflow runner cannot close its
        executions: close them here, at once, ``failed`` with the reason (their runs ended)."""
        if spec.agent_type != CORE_AGENT:
            return
        running = await self.store.executions.list(namespace=spec.namespace, currently_running=True, limit=200)
        if not running.items:
            return
        error = f"the workflow runner {spec.name} ended while the execution ran ({reason}); start it again"
        closed = await self.store.executions.close_running(namespace=spec.namespace, status="failed", error=error)
        testbed = self._testbeds.get(spec.namespace)
        if testbed is not None:
            testbed.supervisor.log.error("closed %d execution(s) of %s as failed: %s", closed, spec.namespace, error)
        if self.bus is not None:
            for record in running.items:
                with contextlib.suppress(Exception):
                    await self.bus.publish(Destinations.of(spec.namespace).execution, ExecutionStatusChanged(
                        namespace=spec.namespace, execution_id=record.execution_id, event="failed", status="failed",
                        phase=record.phase, run_number=record.run_number, stf_count=record.stf_count, error=error,
                    ).model_dump(mode="json"), persistent=False)

    async def testbed_status(self, namespace: str) -> TestbedStatus:
        """The namespace's testbed: its agents, their heartbeats, ``ready`` and ``idle``."""
        _check_namespace(namespace)
        testbed = self._testbeds.get(namespace)
        if testbed is None:
            try:
                record = await self.store.agents.get_testbed(namespace)
            except NotFound:
                return TestbedStatus(namespace=namespace, status="stopped", ready=False, idle=False, mode=self.mode,
                                     config="", node=self.node_name,
                                     message="no testbed has run in this namespace; call start_testbed")
            return TestbedStatus(namespace=namespace, status=record.status if record.status != "ready" else "stopped",
                                 ready=False, idle=False, mode=record.mode if record.mode in ("inprocess", "process") else self.mode,
                                 config=record.config_name, node=record.node or self.node_name,
                                 started_by=record.started_by, started_at=record.started_at,
                                 message="the testbed is not running on this node; call start_testbed")
        agents: list[AgentState] = []
        for name, entry in sorted(testbed.supervisor.agents.items()):
            beat = testbed.beats.get(name)
            runner = entry.runner
            alive = runner is not None and runner.is_alive()
            agents.append(AgentState(
                name=name, agent_type=entry.spec.agent_type,
                status=beat.status if beat is not None and alive else ("EXITED" if entry.last_crash or not entry.wanted else "STARTING"),
                alive=alive, pid=runner.pid if runner is not None else None, restarts=entry.restarts,
                last_heartbeat=beat.timestamp if beat is not None else None,
                detail=entry.last_crash,
            ))
        ready = bool(agents) and all(a.alive and a.status in ("READY", "PROCESSING") for a in agents)
        idle = ready and all(a.status == "READY" for a in agents)
        return TestbedStatus(
            namespace=namespace, status=testbed.status, ready=ready, idle=idle, mode=self.mode, config=testbed.config,
            node=self.node_name, started_by=testbed.started_by, started_at=testbed.started_at,
            workers=testbed.supervisor.worker_count(), agents=agents,
            message="ready" if ready else "waiting for agents to report READY",
        )

    async def _wait_ready(self, testbed: _Testbed, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if (await self.testbed_status(testbed.namespace)).ready:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(testbed.changed.wait(), min(remaining, 0.5))

    async def _record_testbed(self, testbed: _Testbed) -> None:
        agents = {
            name: {"type": e.spec.agent_type, "pid": e.runner.pid if e.runner is not None else None}
            for name, e in testbed.supervisor.agents.items()
        }
        await self.store.agents.upsert_testbed(testbed.namespace, testbed.config, testbed.status, mode=self.mode,
                                               node=self.node_name, started_by=testbed.started_by, agents=agents)

    # --- subscriptions -----------------------------------------------------------------------

    async def _on_heartbeat(self, testbed: _Testbed, delivery: Delivery) -> None:
        beat = Heartbeat.model_validate(delivery.body)
        testbed.beats[beat.agent] = beat
        testbed.notify()

    async def _on_execution(self, testbed: _Testbed, delivery: Delivery) -> None:
        event = ExecutionStatusChanged.model_validate(delivery.body)
        if event.event == "drained":
            testbed.drained.add(event.execution_id)
        if event.event in ("completed", "terminated", "failed", "drained"):
            testbed.finished.add(event.execution_id)
            testbed.ends.set()
            testbed.ends = asyncio.Event()
        testbed.notify()

    async def _on_control(self, testbed: _Testbed, delivery: Delivery) -> None:
        if delivery.body.get("msg_type") != "scale_workers":
            return
        message = ScaleWorkers.model_validate(delivery.body)
        wanted = self._bounded(message.count)
        size = await testbed.supervisor.scale_workers(wanted, message.reason)
        await self._record_testbed(testbed)
        testbed.notify()
        self.log.info("namespace %s: worker pool is %d (asked %d)", testbed.namespace, size, message.count)

    def _bounded(self, count: int) -> int:
        count = self.limits.clamp_workers(count)
        return min(count, self.worker_limit) if self.worker_limit is not None else count

    # --- workflows ---------------------------------------------------------------------------

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
        _check_namespace(namespace)
        testbed = self._testbeds.get(namespace)
        if testbed is None:
            raise TestbedNotRunning(namespace)
        try:
            return await self._start_workflow(testbed, workflow, config, parameters, realtime, executed_by, reason)
        except (InvalidRequest, WorkflowError) as exc:
            # a rejected start changes nothing, but leaves a WARNING in the namespace for a debugger
            testbed.supervisor.log.warning("start_workflow rejected (workflow %s, config %s, by %s): %s",
                                           workflow, config, executed_by, exc)
            raise

    async def _start_workflow(
        self, testbed: _Testbed, workflow: str, config: str, parameters: dict[str, Any] | None, realtime: bool,
        executed_by: str, reason: str | None,
    ) -> ExecutionRecord:
        namespace = testbed.namespace
        try:  # the namespace's own definitions first, then the built-ins; never another namespace's
            scope, definition = registry.resolve(workflow, namespace=namespace)
        except WorkflowError as exc:
            raise InvalidRequest(f"workflow: {exc}") from exc
        workflow_params, testbed_params = _split_parameters(parameters or {})
        task_workflow = task_workflow_of(definition)
        try:
            if task_workflow is not None:  # a generated task workflow: its own directory and parameter model
                expanded = expand_config(config, workflows_dir=task_workflow.directory or self.workflows_dir, testbed=None,
                                         parameters=workflow_params, namespace=namespace,
                                         parameter_model=definition.parameter_model)
            else:
                expanded = expand_config(config, workflows_dir=self.workflows_dir, testbed=_testbed_file(self.workflows_dir, testbed.config),
                                         parameters=workflow_params, namespace=namespace)
        except WorkflowError as exc:
            extra = ""
            if "unknown parameter" in str(exc):
                extra = f"; testbed parameters: {', '.join(sorted(TESTBED_PARAMETERS))}"
            raise InvalidRequest(f"{exc}{extra}") from exc
        if expanded.workflow_name and expanded.workflow_name != workflow:
            raise InvalidRequest(
                f"config: {config!r} is a config of workflow {expanded.workflow_name!r}, not {workflow!r}; "
                f"pass workflow={expanded.workflow_name!r} or another config"
            )
        if not executed_by:
            raise InvalidRequest("executed_by: must not be empty")
        assert self.bus is not None
        effective = {**expanded.parameters.model_dump(mode="json"), **testbed_params}
        self.limits.check_parameters(effective, realtime=realtime)
        if task_workflow is not None:
            self.limits.check("parameters", task_workflow.planned_tasks(expanded.parameters), "max_tasks_per_workflow",
                              what="tasks planned")
            task_workers = task_workflow.settings().workers()
            await self._task_workers(testbed, task_workers.count, task_workers.module)
        await self.store.definitions.register(definition.name, definition.version, definition.source,
                                              definition.parameter_schema(), definition.description, namespace=scope)
        async with self._admission:
            running = await self.store.executions.list(executed_by=executed_by, currently_running=True, limit=1)
            self.limits.check("workflow", running.total + 1, "max_running_executions_per_user",
                              what=f"pending or running executions of {executed_by!r} with this one")
            record = await self.store.executions.create(
                workflow, namespace, executed_by, expanded.model_dump(mode="json"), expanded.config_hash,
                definition.source_hash, effective, realtime, reason=reason, node=self.node_name,
                definition_version=definition.version,
            )
        testbed.slices_per_sample = int(effective.get("slices_per_sample", 15))
        await self.bus.publish(Destinations.of(namespace).workflow_control,
                               RunWorkflow(namespace=namespace, execution_id=record.execution_id).model_dump(mode="json"))
        return record

    async def _task_workers(self, testbed: _Testbed, count: int, module: str = WORKER_MODULE) -> None:
        """Grow the namespace's task worker pool to ``count`` (bounded): in-process, or child processes
        running ``module`` (as the workflow's config names it; see :func:`agents.tasks.pool.worker_module`)."""
        try:
            worker_module(module)  # a name that is no task worker is refused, whichever workflow asks
            if testbed.task_workers is None:
                testbed.task_workers = TaskWorkerPool(testbed.namespace, mode=self.mode, bus=self.bus,
                                                     stomp=self.stomp, module=module, sandbox=self.sandbox)
            started = await testbed.task_workers.ensure(self._bounded(count))
        except Exception as exc:
            raise InvalidRequest(f"task workers: {exc}; check the broker and [agents.task_workers] in agents.toml") from exc
        if started:
            testbed.supervisor.log.info("testbed %s: %d task worker(s) started (%s), %d in all", testbed.namespace,
                                        started, self.mode, testbed.task_workers.size)

    async def _execution(self, execution_id: str) -> ExecutionRecord:
        try:
            return await self.store.executions.get(execution_id)
        except NotFound:
            raise ExecutionNotFound(execution_id) from None

    async def stop_workflow(self, execution_id: str, reason: str | None = None, timeout_s: float = 15.0) -> ExecutionRecord:
        """Stop an execution: the runner broadcasts end_run and closes it ``terminated``.

        If the runner cannot (it is down), the execution and its run are closed here, so
        nothing stays running. Stopping a finished execution returns it unchanged.
        """
        record = await self._execution(execution_id)
        if record.status in TERMINAL_STATUSES:
            return record
        testbed = self._testbeds.get(record.namespace)
        why = reason or "stopped by request"
        if testbed is not None and self.bus is not None:
            await self.bus.publish(
                Destinations.of(record.namespace).workflow_control,
                StopWorkflow(namespace=record.namespace, execution_id=execution_id, reason=why).model_dump(mode="json"),
            )
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                record = await self._execution(execution_id)
                if record.status in TERMINAL_STATUSES:
                    return record
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(testbed.changed.wait(), 0.25)
        if record.run_number is not None:
            with contextlib.suppress(NotFound):
                run = await self.store.runs.get_run(record.run_number)
                if run.status == "running":
                    await self.store.runs.end_run(record.run_number, record.stf_count)
        return await self.store.executions.set_status(
            execution_id, "terminated", error=f"{why} (closed by the testbed manager: the workflow runner did not answer)"
        )

    async def wait_for_execution(
        self,
        execution_id: str,
        timeout_s: float,
        on_progress: ProgressCallback | None = None,
    ) -> ExecutionRecord:
        """Wait until the execution ends AND its processing drained, or ``timeout_s`` passes.

        ``on_progress`` gets a snapshot on every phase or STF change and at least every second.
        The drain wait after the end is bounded by ``drain_timeout_s``. Returns the record as
        it is then (still running if the timeout passed).
        """
        if timeout_s < 0:
            raise InvalidRequest(f"timeout_s: must be >= 0, got {timeout_s}")
        record = await self._execution(execution_id)
        started = time.monotonic()
        deadline = started + timeout_s
        ended_at: float | None = None
        last_key: tuple[Any, ...] | None = None
        last_sent = 0.0
        while True:
            record = await self._execution(execution_id)
            testbed = self._testbeds.get(record.namespace)
            progress = await self._progress(record, testbed, time.monotonic() - started)
            key = (progress.status, progress.phase, progress.stf_count, progress.tf_samples,
                   tuple(sorted(progress.slices.items())), progress.drained)
            now = time.monotonic()
            if on_progress is not None and (key != last_key or now - last_sent >= 1.0):
                last_key, last_sent = key, now
                await on_progress(progress)
            if record.status in TERMINAL_STATUSES:
                ended_at = ended_at or now
                if progress.drained or testbed is None or now - ended_at >= self.drain_timeout_s:
                    return record
            if now >= deadline:
                return record
            wait = min(deadline - now, 1.0)
            if testbed is None:
                await asyncio.sleep(min(wait, PROGRESS_MIN_GAP_S))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(testbed.changed.wait(), wait)
                # events come in bursts (heartbeats, STFs): look again at most 5 times a second,
                # but at once when this execution has ended or drained
                pause = min(PROGRESS_MIN_GAP_S - (time.monotonic() - now), deadline - time.monotonic())
                if pause > 0 and execution_id not in testbed.finished and execution_id not in testbed.drained:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(testbed.ends.wait(), pause)

    async def progress(self, execution_id: str) -> ExecutionProgress:
        """A snapshot of the execution now: status, phase, counts, and whether it has drained."""
        record = await self._execution(execution_id)
        return await self._progress(record, self._testbeds.get(record.namespace), 0.0)

    async def _progress(self, record: ExecutionRecord, testbed: _Testbed | None, elapsed_s: float) -> ExecutionProgress:
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

    async def _drained(self, record: ExecutionRecord, testbed: _Testbed | None, samples: int,
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
            per_sample = int(record.parameters.get("slices_per_sample", testbed.slices_per_sample))
            resolved = slices.get("done", 0) + slices.get("failed", 0)
            if resolved < samples * per_sample:
                return False
        return True

    async def monitor(self, execution_id: str) -> WorkflowMonitor:
        """One execution on one page: status, DAQ phase, run, counts by status, events, errors, latency."""
        record = await self._execution(execution_id)
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
                state = await store.runs.get_run_state(record.run_number)
                p50, p99 = state.latency_p50_ms, state.latency_p99_ms
                workers_active, workers_target = state.workers_active, state.workers_target
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

    # --- agents and messages -----------------------------------------------------------------

    def _find(self, name: str) -> _Testbed:
        for testbed in self._testbeds.values():
            if name in testbed.supervisor.agents:
                return testbed
        raise AgentNotFound(name)

    async def restart_agent(self, name: str, reason: str | None = None) -> AgentRecord:
        """Stop an agent cleanly and start it again; returns its record once it is READY (or after 30 s)."""
        testbed = self._find(name)
        await testbed.supervisor.restart(name, reason)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            entry = testbed.supervisor.agents.get(name)
            beat = testbed.beats.get(name)
            if entry is not None and entry.runner is not None and entry.runner.is_alive() and beat is not None \
                    and beat.status in ("READY", "PROCESSING") and beat.pid == entry.runner.pid \
                    and beat.timestamp.timestamp() >= entry.started_wall:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(testbed.changed.wait(), 0.5)
        await self._record_testbed(testbed)
        return await self.store.agents.get_agent(name)

    async def kill_agent(self, name: str, reason: str | None = None) -> AgentRecord:
        """End an agent at once (SIGKILL for a process) and keep it down until restart_agent; it is
        marked EXITED and the testbed reports not ready."""
        testbed = self._find(name)
        await testbed.supervisor.kill(name, reason)
        testbed.beats.pop(name, None)
        await self._record_testbed(testbed)
        return await self.store.agents.get_agent(name)

    async def send_message(self, namespace: str, msg_type: str, body: dict[str, Any], reason: str | None = None) -> None:
        """Publish a control message on the namespace's testbed_control topic."""
        _check_namespace(namespace)
        if not msg_type or not msg_type.replace("_", "").isalnum():
            raise InvalidRequest(f"msg_type {msg_type!r} is not valid: use letters, digits and '_', e.g. 'scale_workers'")
        if namespace not in self._testbeds:
            raise TestbedNotRunning(namespace)
        message = {**body, "msg_type": msg_type, "namespace": namespace,
                   "timestamp": datetime.now(UTC).isoformat(), "reason": reason or body.get("reason") or ""}
        if msg_type == "scale_workers":
            try:
                scale = ScaleWorkers.model_validate(message)
            except ValueError as exc:
                raise InvalidRequest(f"body: a scale_workers message needs count (an integer >= 0): {exc}") from exc
            self.limits.check("body.count", scale.count, "max_worker_count", what="workers")
        assert self.bus is not None
        await self.bus.publish(Destinations.of(namespace).testbed_control, message, persistent=False)

    def _lock(self, namespace: str) -> asyncio.Lock:
        return self._locks.setdefault(namespace, asyncio.Lock())


def _check_namespace(namespace: str) -> None:
    try:
        Destinations.of(namespace)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _split_parameters(parameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate the testbed's own parameters (validated here) from the workflow's."""
    workflow: dict[str, Any] = {}
    testbed: dict[str, Any] = {}
    for key, value in parameters.items():
        if key in TESTBED_PARAMETERS:
            _kind, low, high = TESTBED_PARAMETERS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise InvalidRequest(f"parameters.{key}: must be a number between {low:g} and {high:g}, got {value!r}")
            testbed[key] = float(value)
        else:
            workflow[key] = value
    return workflow, testbed


def _testbed_file(workflows_dir: Path, config: str) -> str | None:
    name = f"{config.removesuffix('.toml')}.toml"
    return name if (workflows_dir / name).is_file() else None


def _is_our_child(pid: int) -> bool:
    """Whether ``pid`` runs an agent child (so a recycled pid is never signalled)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"agents.testbed.framework.child" in fh.read()
    except OSError:
        return False


__all__ = ["TestbedError", "TestbedManager"]
