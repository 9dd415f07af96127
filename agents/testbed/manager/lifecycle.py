"""The testbed lifecycle: start, stop and report a namespace's testbed; close what a previous node left.

Starting a testbed resolves its config (``[agents.NAME] enabled = true``, ``[agents.worker]
count = N``), starts the agents under one :class:`~agents.testbed.framework.supervisor.Supervisor`
per namespace, subscribes to the namespace's heartbeat, execution and testbed_control topics
and waits until every agent heart-beats READY. Stopping stops the namespace's executions, then
its agents and task workers, each step bounded (docs/testbed.md, "How a stop proceeds").

:meth:`TestbedLifecycle.recover` runs when the manager opens: what the store says this node was
running before (a previous process of the node) is closed, not re-adopted (see the module
docstring of :mod:`agents.testbed.testbed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from agents.testbed.bus.base import Delivery
from agents.testbed.agent_types import AGENT_TYPES
from agents.testbed.configs import resolve_testbed_config
from agents.testbed.errors import InvalidRequest, TestbedNotRunning
from agents.testbed.framework.agent import AgentContext
from agents.testbed.framework.destinations import Destinations
from agents.testbed.manager import heap
from agents.testbed.framework.runners.base import AgentRunner, AgentSpec
from agents.testbed.framework.runners.inprocess import InProcessRunner
from agents.testbed.framework.runners.process import ProcessRunner, child_command, kill_group
from agents.testbed.framework.status import AgentState, TestbedStatus
from agents.testbed.framework.supervisor import WORKER, Supervisor
from agents.testbed.manager.agent_control import AgentControl
from agents.testbed.manager.executions import ExecutionControl
from agents.testbed.manager.state import CORE_AGENT, ManagerState, RunningTestbed, check_namespace
from agents.testbed.pipeline_messages import ExecutionStatusChanged, Heartbeat
from workflows.errors import WorkflowError
from workflows.store.errors import NotFound

NODE_RESTART_ERROR = "the execution node restarted while this execution was running; start it again"

__all__ = ["NODE_RESTART_ERROR", "TestbedLifecycle"]


class TestbedLifecycle:
    """Starts, stops and reports the testbeds of one node."""

    __test__ = False

    def __init__(self, state: ManagerState, executions: ExecutionControl, agents: AgentControl) -> None:
        self.state = state
        self.store = state.store
        self.executions = executions
        self.agents = agents

    async def recover(self) -> None:
        """Close what a previous process of this node left running (see the module docstring)."""
        state = self.state
        for record in await self.store.agents.list_testbeds():
            if record.node != state.node_name or record.status in ("stopped", "failed"):
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
                                                   node=state.node_name)
            state.log.warning("closed testbed %s left running by a previous node process", record.namespace)

    def namespaces(self) -> list[str]:
        """Namespaces with a running testbed on this node, sorted."""
        return sorted(self.state.testbeds)

    # --- start -------------------------------------------------------------------------------

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
        state = self.state
        check_namespace(namespace)
        async with state.lock(namespace):
            if namespace in state.testbeds:
                # kept in the namespace's app_logs, so a debugger sees the refused start later
                state.testbeds[namespace].supervisor.log.warning(
                    "start_testbed refused: a testbed is already running in namespace %s (asked by %s, config %s)",
                    namespace, started_by, config)
                status = await self.testbed_status(namespace)
                return status.model_copy(update={"already_running": True,
                                                 "message": "a testbed is already running in this namespace"})
            try:  # a testbed config, or the workflow config the caller means to run (agents/testbed/configs.py)
                resolved = resolve_testbed_config(state.workflows_dir, config)
            except WorkflowError as exc:
                raise InvalidRequest(f"config: {exc}; name a testbed config (e.g. 'testbed') or a workflow "
                                     "config (list_workflow_definitions shows them)") from exc
            testbed_file, config = resolved.file, resolved.testbed
            specs, workers = self._specs(namespace, testbed_file.agents)
            bus = state.connected_bus()
            async with state.admission:  # the count check and the entry it admits, together: concurrent starts queue
                state.limits.check("namespace", sum(1 for t in state.testbeds.values() if t.started_by == started_by) + 1,
                                   "max_testbeds_per_user", what=f"running testbeds of {started_by!r} with this one")
                await self.store.namespaces.ensure(namespace)
                await self.store.agents.upsert_testbed(namespace, config, "starting", mode=state.mode,
                                                       node=state.node_name, started_by=started_by, agents={})
                supervisor = Supervisor(
                    namespace, store=self.store, make_runner=self._runner_factory(), mode=state.mode,
                    backoff_initial_s=state.backoff_initial_s, backoff_max_s=state.backoff_max_s,
                    on_agent_down=self.executions.on_agent_down,
                )
                testbed = RunningTestbed(namespace=namespace, config=config, mode=state.mode, started_by=started_by,
                                         started_at=datetime.now(UTC), supervisor=supervisor,
                                         agent_types={s.agent_type for s in specs})
                state.testbeds[namespace] = testbed
            to = Destinations.of(namespace)
            testbed.subscriptions += [
                await bus.subscribe(to.heartbeat, lambda d, t=testbed: _on_heartbeat(t, d)),
                await bus.subscribe(to.execution, lambda d, t=testbed: _on_execution(t, d)),
                await bus.subscribe(to.testbed_control, lambda d, t=testbed: self.agents.on_control(t, d)),
            ]
            supervisor.log.info("testbed %s starting (%s mode, config %s) by %s%s", namespace, state.mode, config,
                                started_by, f": {reason}" if reason else "")
            await supervisor.start(specs)
            if workers:
                await supervisor.scale_workers(state.bounded(workers), "initial pool")
            ready = await self._wait_ready(testbed, state.ready_timeout_s)
            testbed.status = "ready" if ready else "starting"
            await state.record(testbed)
            if state.mode == "inprocess":
                heap.settle()  # full collections no longer walk what the start built (manager/heap.py)
            status = await self.testbed_status(namespace)
            status = status.model_copy(update={"config_kind": resolved.kind, "workflow_config": resolved.workflow_config})
            if not ready:
                status = status.model_copy(update={"message": f"not every agent was READY within {state.ready_timeout_s:.0f} s"})
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
        state = self.state
        if state.mode == "inprocess":
            bus = state.bus

            def context_for(spec: AgentSpec) -> AgentContext:
                return AgentContext(namespace=spec.namespace, bus=bus, store=self.store,  # type: ignore[arg-type]
                                    agent_id=spec.agent_id, mode="inprocess",
                                    heartbeat_interval_s=state.heartbeat_interval_s, options=spec.options)

            return lambda spec: InProcessRunner(spec, context_for)

        log = logging.getLogger("controlroom.testbed.children")

        def make(spec: AgentSpec) -> AgentRunner:
            command = child_command(spec, stomp=state.stomp, database_url=state.database_url,  # type: ignore[arg-type]
                                    heartbeat_interval_s=state.heartbeat_interval_s,
                                    database_schema=state.database_schema)
            testbed = state.testbeds.get(spec.namespace)
            return ProcessRunner(spec, command, testbed.supervisor.log if testbed else log)

        return make

    async def _wait_ready(self, testbed: RunningTestbed, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if (await self.testbed_status(testbed.namespace)).ready:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.5)):
                    await testbed.changed.wait()

    # --- stop --------------------------------------------------------------------------------

    async def stop_testbed(self, namespace: str, reason: str | None = None) -> TestbedStatus:
        """Stop the namespace's workflows (end_run is broadcast) and agents; no process is left."""
        state = self.state
        check_namespace(namespace)
        async with state.lock(namespace):
            testbed = state.testbeds.get(namespace)
            if testbed is None:
                raise TestbedNotRunning(namespace)
            testbed.status = "stopping"
            await state.record(testbed)
            why = reason or "the testbed was stopped"
            running = await self.store.executions.list(namespace=namespace, currently_running=True, limit=200)
            # every step below is bounded (docs/testbed.md, "How a stop proceeds")
            await asyncio.gather(*(self._bounded_step(self.executions.stop_workflow(r.execution_id, reason=why,
                                                                                    timeout_s=10.0),
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
            await self.store.agents.upsert_testbed(namespace, testbed.config, "stopped", mode=state.mode,
                                                   node=state.node_name, agents={})
            del state.testbeds[namespace]
            if state.mode == "inprocess":
                heap.release(others_running=any(t.mode == "inprocess" for t in state.testbeds.values()))
            return await self.testbed_status(namespace)

    async def stop_all(self, reason: str) -> None:
        """Stop every running testbed (the node is shutting down); a failing stop does not stop the rest."""
        for namespace in list(self.state.testbeds):
            with contextlib.suppress(Exception):
                await self.stop_testbed(namespace, reason=reason)

    async def _exited_rows(self, namespace: str) -> None:
        page = await self.store.agents.list_agents(namespace=namespace, limit=200)
        for agent in page.items:
            if agent.status != "EXITED":
                await self.store.agents.upsert_agent(name=agent.name, namespace=namespace, agent_type=agent.agent_type,
                                                     status="EXITED", mode=agent.mode, detail="stopped with the testbed")

    async def _bounded_step(self, step: Awaitable[Any], bound_s: float, what: str) -> None:
        """One step of a stop: given ``bound_s``, then abandoned with a warning (a stop always ends)."""
        try:
            async with asyncio.timeout(bound_s):
                await step
        except Exception as exc:  # noqa: BLE001 - the stop goes on; what is left is closed below
            self.state.log.warning("stop: %s did not complete (%s: %s); going on", what, type(exc).__name__, exc)

    # --- status ------------------------------------------------------------------------------

    async def testbed_status(self, namespace: str) -> TestbedStatus:
        """The namespace's testbed: its agents, their heartbeats, ``ready`` and ``idle``."""
        state = self.state
        check_namespace(namespace)
        testbed = state.testbeds.get(namespace)
        if testbed is None:
            try:
                record = await self.store.agents.get_testbed(namespace)
            except NotFound:
                return TestbedStatus(namespace=namespace, status="stopped", ready=False, idle=False, mode=state.mode,
                                     config="", node=state.node_name,
                                     message="no testbed has run in this namespace; call start_testbed")
            return TestbedStatus(namespace=namespace, status=record.status if record.status != "ready" else "stopped",
                                 ready=False, idle=False,
                                 mode=record.mode if record.mode in ("inprocess", "process") else state.mode,
                                 config=record.config_name, node=record.node or state.node_name,
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
            namespace=namespace, status=testbed.status, ready=ready, idle=idle, mode=state.mode, config=testbed.config,
            node=state.node_name, started_by=testbed.started_by, started_at=testbed.started_at,
            workers=testbed.supervisor.worker_count(), agents=agents,
            message="ready" if ready else "waiting for agents to report READY",
        )


async def _on_heartbeat(testbed: RunningTestbed, delivery: Delivery) -> None:
    testbed.saw_heartbeat(Heartbeat.model_validate(delivery.body))


async def _on_execution(testbed: RunningTestbed, delivery: Delivery) -> None:
    testbed.saw_execution_event(ExecutionStatusChanged.model_validate(delivery.body))


def _is_our_child(pid: int) -> bool:
    """Whether ``pid`` runs an agent child (so a recycled pid is never signalled)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"agents.testbed.framework.child" in fh.read()
    except OSError:
        return False
