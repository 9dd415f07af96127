"""The task workers a testbed keeps for its namespace: in-process, or child processes on the broker.

A testbed starts them when the first task workflow of its namespace is started (as many as the
workflow's ``[agents.task_workers] count`` asks, bounded by the node's worker limit) and stops
them with the testbed. All task workflows of a namespace share its ``tasks`` queue, so one pool
per namespace serves them all; a later workflow asking for more workers grows the pool.

* ``inprocess``: :class:`TaskWorker` objects on the testbed's own bus (embedded or STOMP);
* ``process``: ``python -m agents.tasks.worker --namespace NS --stomp HOST:PORT --name NAME``
  children (:class:`agents.supervision.child_process.ChildProcess`, each in its own process
  group); :meth:`stop` sends SIGTERM (their unacked task goes back to the queue) and SIGKILL
  after ``stop_timeout_s``.

The worker module is the one named in ``[agents.task_workers] module``, resolved through
:data:`WORKER_MODULES`: only the task worker may be named (a config cannot make the node run
another module), and ``workflows.tasks.worker``, the name generated workflows carried before the
worker moved to :mod:`agents.tasks.worker` (and still carry in the store), resolves to it.

Both run task code in ``sandbox`` (children get it as ``--hide``/``--bwrap``/``--unsafe-no-sandbox``
and ``--die-with-parent``, so a killed node takes its workers and their sandboxes with it).

Example::

    pool = TaskWorkerPool("alice", mode="inprocess", bus=bus)
    await pool.ensure(4)
    ...
    await pool.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass, field
from typing import Literal

from agents.supervision.child_process import ChildProcess
from agents.tasks.worker import TaskWorker
from agents.testbed.bus.base import Bus
from workflows.tasks.errors import TaskConfigError, TaskWorkflowError
from workflows.tasks.sandbox import Sandbox

PoolMode = Literal["inprocess", "process"]

WORKER_MODULE = "agents.tasks.worker"
"""The task worker's ``python -m`` entry point."""

WORKER_MODULES: dict[str, str] = {
    WORKER_MODULE: WORKER_MODULE,
    # generated workflows made before the task runtime moved to agents/ name the old module in
    # agents.toml, and the store keeps those files: they must keep starting workers
    "workflows.tasks.worker": WORKER_MODULE,
}
"""Every worker-module name a config may give -> the module that runs."""

READY_TIMEOUT_S = 30.0
"""How long a child worker may take to print its ready line."""


class TaskWorkerStartError(TaskWorkflowError):
    """A task worker child process did not come up (the message has its last output)."""


def worker_module(name: str) -> str:
    """The module a ``[agents.task_workers] module`` name runs; a name that is no task worker is refused.

    >>> worker_module("workflows.tasks.worker")
    'agents.tasks.worker'
    """
    try:
        return WORKER_MODULES[name]
    except KeyError:
        raise TaskConfigError(f"[agents.task_workers] module: {name!r} is not a task worker module; "
                              f"use {WORKER_MODULE!r} (or leave it out)") from None


@dataclass
class TaskWorkerPool:
    """The task workers of one namespace (see the module docstring)."""

    namespace: str
    mode: PoolMode
    bus: Bus | None = None
    stomp: tuple[str, int] | None = None
    module: str = WORKER_MODULE
    """The worker module as the config names it (resolved with :func:`worker_module`)."""
    stop_timeout_s: float = 10.0
    sandbox: Sandbox | None = None
    workers: list[TaskWorker] = field(default_factory=list)
    children: list[ChildProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.module = worker_module(self.module)
        if self.mode == "inprocess" and self.bus is None:
            raise ValueError("an in-process task worker pool needs the testbed's bus")
        if self.mode == "process" and self.stomp is None:
            raise ValueError("a process task worker pool needs the broker address stomp=(host, port)")

    @property
    def size(self) -> int:
        """Workers started and not stopped."""
        return len(self.workers) + len(self.children)

    async def ensure(self, count: int) -> int:
        """Start workers until there are ``count``; returns how many were started now."""
        started = 0
        while self.size < count:
            name = f"task-worker-{self.namespace}-{self.size}"
            if self.mode == "inprocess":
                assert self.bus is not None
                worker = TaskWorker(self.bus, self.namespace, name=name, sandbox=self.sandbox)
                await worker.start()
                self.workers.append(worker)
            else:
                self.children.append(await self._spawn(name))
            started += 1
        return started

    async def _spawn(self, name: str) -> ChildProcess:
        assert self.stomp is not None
        host, port = self.stomp
        child = await ChildProcess.start(
            [sys.executable, "-m", self.module, "--namespace", self.namespace, "--stomp", f"{host}:{port}",
             "--name", name, *self._sandbox_args()],
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        stdout = child.process.stdout
        assert stdout is not None
        seen: list[str] = []
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                while True:
                    line = await stdout.readline()
                    if not line:
                        raise TaskWorkerStartError(
                            f"task worker {name} exited with status {await child.wait()} before it was ready: "
                            + " | ".join(seen[-5:]))
                    text = line.decode(errors="replace").strip()
                    seen.append(text)
                    if text.startswith(f"task worker {name} ready"):
                        break
        except BaseException:
            await child.stop(self.stop_timeout_s)
            raise
        # keep reading its output so a full pipe never blocks the child
        asyncio.get_running_loop().create_task(self._discard(stdout))
        return child

    def _sandbox_args(self) -> list[str]:
        sandbox = self.sandbox or Sandbox()
        args = ["--die-with-parent", "--bwrap", sandbox.bwrap]
        for path in sandbox.hidden:
            args += ["--hide", str(path)]
        return [*args, "--unsafe-no-sandbox"] if sandbox.unsafe_no_sandbox else args

    @staticmethod
    async def _discard(stdout: asyncio.StreamReader) -> None:
        with contextlib.suppress(Exception):
            while await stdout.readline():
                pass

    def pids(self) -> list[int]:
        """Process ids of the child workers (empty in-process)."""
        return [p.pid for p in self.children]

    async def stop(self) -> None:
        """Stop every worker; nothing is left running."""
        workers, self.workers = self.workers, []
        for worker in workers:
            with contextlib.suppress(Exception):
                await worker.stop()
        children, self.children = self.children, []
        await asyncio.gather(*(child.stop(self.stop_timeout_s) for child in children), return_exceptions=True)


__all__ = ["WORKER_MODULE", "WORKER_MODULES", "PoolMode", "TaskWorkerPool", "TaskWorkerStartError", "worker_module"]
