"""The task workers a testbed keeps for its namespace: in-process, or child processes on the broker.

A testbed starts them when the first task workflow of its namespace is started (as many as the
workflow's ``[agents.task_workers] count`` asks, bounded by the node's worker limit) and stops
them with the testbed. All task workflows of a namespace share its ``tasks`` queue, so one pool
per namespace serves them all; a later workflow asking for more workers grows the pool.

* ``inprocess``: :class:`TaskWorker` objects on the testbed's own bus (embedded or STOMP);
* ``process``: ``python -m workflows.tasks.worker --namespace NS --stomp HOST:PORT --name NAME``
  children, each in its own session; :meth:`stop` sends SIGTERM (their unacked task goes back
  to the queue) and SIGKILL after ``stop_timeout_s``.

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
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Literal

from agents.testbed.bus.base import Bus
from workflows.tasks.errors import TaskWorkflowError
from workflows.tasks.sandbox import Sandbox
from workflows.tasks.worker import TaskWorker

PoolMode = Literal["inprocess", "process"]

READY_TIMEOUT_S = 30.0
"""How long a child worker may take to print its ready line."""


class TaskWorkerStartError(TaskWorkflowError):
    """A task worker child process did not come up (the message has its last output)."""


@dataclass
class TaskWorkerPool:
    """The task workers of one namespace (see the module docstring)."""

    namespace: str
    mode: PoolMode
    bus: Bus | None = None
    stomp: tuple[str, int] | None = None
    module: str = "workflows.tasks.worker"
    stop_timeout_s: float = 10.0
    sandbox: Sandbox | None = None
    workers: list[TaskWorker] = field(default_factory=list)
    children: list[asyncio.subprocess.Process] = field(default_factory=list)

    def __post_init__(self) -> None:
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

    async def _spawn(self, name: str) -> asyncio.subprocess.Process:
        assert self.stomp is not None
        host, port = self.stomp
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", self.module, "--namespace", self.namespace, "--stomp", f"{host}:{port}",
            "--name", name, *self._sandbox_args(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        seen: list[str] = []
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                while True:
                    line = await proc.stdout.readline()
                    if not line:
                        raise TaskWorkerStartError(
                            f"task worker {name} exited with status {await proc.wait()} before it was ready: "
                            + " | ".join(seen[-5:]))
                    text = line.decode(errors="replace").strip()
                    seen.append(text)
                    if text.startswith(f"task worker {name} ready"):
                        break
        except BaseException:
            await self._end(proc)
            raise
        # keep reading its output so a full pipe never blocks the child
        asyncio.get_running_loop().create_task(self._discard(proc))
        return proc

    def _sandbox_args(self) -> list[str]:
        sandbox = self.sandbox or Sandbox()
        args = ["--die-with-parent", "--bwrap", sandbox.bwrap]
        for path in sandbox.hidden:
            args += ["--hide", str(path)]
        return [*args, "--unsafe-no-sandbox"] if sandbox.unsafe_no_sandbox else args

    @staticmethod
    async def _discard(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        with contextlib.suppress(Exception):
            while await proc.stdout.readline():
                pass

    async def _end(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

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
        await asyncio.gather(*(self._end(p) for p in children), return_exceptions=True)


__all__ = ["PoolMode", "TaskWorkerPool", "TaskWorkerStartError"]
