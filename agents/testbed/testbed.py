"""The testbed manager: start and stop testbeds, run workflows, watch and steer them.

One :class:`TestbedManager` per execution node. A *testbed* is the set of agents of one
namespace: the workflow runner, the agents its testbed config enables (``[agents.NAME]
enabled = true`` in e.g. ``testbed.toml``) and, with fast processing, a pool of slice workers
(``[agents.worker] count = N`` to start with; the fast processing agent scales it, bounded by
the manager's ``worker_limit``). Agents run in-process (``mode="inprocess"``: asyncio tasks on
the manager's bus) or as child processes (``mode="process"``: STOMP to ``stomp``, store at
``database_url``), under one :class:`~agents.testbed.framework.supervisor.Supervisor` per namespace.

The manager is a façade over its three jobs (``agents/testbed/manager/``), which share one
:class:`~agents.testbed.manager.state.ManagerState`:

- :class:`~agents.testbed.manager.lifecycle.TestbedLifecycle`: ``start_testbed``,
  ``stop_testbed``, ``testbed_status``, ``namespaces``; closing what a previous node left;
- :class:`~agents.testbed.manager.executions.ExecutionControl`: ``start_workflow``,
  ``stop_workflow``, ``wait_for_execution``, ``progress``, ``monitor``;
- :class:`~agents.testbed.manager.agent_control.AgentControl`: ``restart_agent``, ``kill_agent``,
  ``send_message`` and the ``scale_workers`` messages.

The manager listens, per namespace, to the heartbeat topic (readiness without polling the
store), the execution topic (so :meth:`TestbedManager.wait_for_execution` wakes on every
change) and the testbed_control topic (``scale_workers``).

At enter it closes what the store says this node was running before (a previous process of the
node): executions -> terminated with an error saying the node restarted, agents -> EXITED,
agent processes still alive -> stopped (their process group), testbed -> stopped. Running agents
are not re-adopted: a node restart starts testbeds afresh. At exit it stops every testbed.

Example::

    async with TestbedManager(store=store, bus_factory=lambda: bus_from_url("embedded"), mode="inprocess",
                              node_name="local") as m:
        await m.start_testbed("ns1")
        record = await m.start_workflow("ns1", parameters={"stf_count": 5})
        record = await m.wait_for_execution(record.execution_id, timeout_s=60)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from agents.testbed.errors import InvalidRequest, TestbedError
from agents.testbed.framework.status import ExecutionProgress, TestbedStatus, WorkflowMonitor
from agents.testbed.manager.agent_control import AgentControl
from agents.testbed.manager.executions import ExecutionControl, ProgressCallback
from agents.testbed.manager.lifecycle import NODE_RESTART_ERROR, TestbedLifecycle
from agents.testbed.manager.state import ManagerState, Mode
from workflows.config import DEFAULT_WORKFLOWS_DIR
from workflows.limits import Limits
from workflows.store.records import AgentRecord, ExecutionRecord

if TYPE_CHECKING:
    from agents.testbed.bus.base import Bus
    from workflows.store.store import Store
    from workflows.tasks.sandbox import Sandbox

__all__ = ["NODE_RESTART_ERROR", "Mode", "ProgressCallback", "TestbedError", "TestbedManager"]


class TestbedManager:
    """Starts, stops and steers the testbeds of one node (see the module docstring)."""

    __test__ = False

    def __init__(
        self,
        *,
        store: Store,
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
        self.bus_factory = bus_factory
        self.state = ManagerState(
            store=store, mode=mode, node_name=node_name, workflows_dir=workflows_dir or DEFAULT_WORKFLOWS_DIR,
            limits=limits or Limits(), stomp=stomp, database_url=database_url, database_schema=database_schema,
            heartbeat_interval_s=heartbeat_interval_s, worker_limit=worker_limit,
            backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s, ready_timeout_s=ready_timeout_s,
            drain_timeout_s=drain_timeout_s, sandbox=sandbox,
        )
        self.executions = ExecutionControl(self.state)
        self.agents = AgentControl(self.state)
        self.lifecycle = TestbedLifecycle(self.state, self.executions, self.agents)

    @property
    def store(self) -> Store:
        """The node's store."""
        return self.state.store

    @property
    def bus(self) -> Bus | None:
        """The manager's bus while it is open, else None."""
        return self.state.bus

    @property
    def mode(self) -> Mode:
        """How agents run: ``inprocess`` or ``process``."""
        return self.state.mode

    @property
    def node_name(self) -> str:
        """The node this manager runs testbeds for."""
        return self.state.node_name

    async def __aenter__(self) -> Self:
        self.state.bus = self.bus_factory()
        await self.state.bus.connect()
        await self.lifecycle.recover()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.lifecycle.stop_all(reason="the execution node is shutting down")
        if self.state.bus is not None:
            await self.state.bus.close()
            self.state.bus = None

    # --- lifecycle (agents/testbed/manager/lifecycle.py) -------------------------------------

    def namespaces(self) -> list[str]:
        """Namespaces with a running testbed on this node, sorted."""
        return self.lifecycle.namespaces()

    async def start_testbed(self, namespace: str, config: str = "testbed", started_by: str = "anonymous",
                            reason: str | None = None) -> TestbedStatus:
        """Start the agents ``config`` enables in ``namespace`` and wait until they are ready."""
        return await self.lifecycle.start_testbed(namespace, config, started_by, reason)

    async def stop_testbed(self, namespace: str, reason: str | None = None) -> TestbedStatus:
        """Stop the namespace's workflows (end_run is broadcast) and agents; no process is left."""
        return await self.lifecycle.stop_testbed(namespace, reason)

    async def testbed_status(self, namespace: str) -> TestbedStatus:
        """The namespace's testbed: its agents, their heartbeats, ``ready`` and ``idle``."""
        return await self.lifecycle.testbed_status(namespace)

    # --- executions (agents/testbed/manager/executions.py) ------------------------------------

    async def start_workflow(self, namespace: str, workflow: str = "stf_datataking",
                             config: str = "fast_processing_default", parameters: dict[str, Any] | None = None,
                             realtime: bool = False, executed_by: str = "anonymous",
                             reason: str | None = None) -> ExecutionRecord:
        """Validate, store and start an execution on the namespace's testbed (a rejected call stores nothing)."""
        return await self.executions.start_workflow(namespace, workflow, config, parameters, realtime, executed_by,
                                                    reason)

    async def stop_workflow(self, execution_id: str, reason: str | None = None,
                            timeout_s: float = 15.0) -> ExecutionRecord:
        """Stop an execution (closed here if the workflow runner does not answer)."""
        return await self.executions.stop_workflow(execution_id, reason, timeout_s)

    async def wait_for_execution(self, execution_id: str, timeout_s: float,
                                 on_progress: ProgressCallback | None = None) -> ExecutionRecord:
        """Wait until the execution ends AND its processing drained, or ``timeout_s`` passes."""
        return await self.executions.wait_for_execution(execution_id, timeout_s, on_progress)

    async def progress(self, execution_id: str) -> ExecutionProgress:
        """A snapshot of the execution now: status, phase, counts, and whether it has drained."""
        return await self.executions.progress(execution_id)

    async def monitor(self, execution_id: str) -> WorkflowMonitor:
        """One execution on one page: status, DAQ phase, run, counts by status, events, errors, latency."""
        return await self.executions.monitor(execution_id)

    # --- agents (agents/testbed/manager/agent_control.py) -------------------------------------

    async def restart_agent(self, name: str, reason: str | None = None) -> AgentRecord:
        """Stop an agent cleanly and start it again; its record once it is READY (or after 30 s)."""
        return await self.agents.restart_agent(name, reason)

    async def kill_agent(self, name: str, reason: str | None = None) -> AgentRecord:
        """End an agent at once and keep it down until restart_agent."""
        return await self.agents.kill_agent(name, reason)

    async def send_message(self, namespace: str, msg_type: str, body: dict[str, Any],
                           reason: str | None = None) -> None:
        """Publish a control message on the namespace's testbed_control topic."""
        await self.agents.send_message(namespace, msg_type, body, reason)
