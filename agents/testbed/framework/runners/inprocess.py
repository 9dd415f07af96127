"""Agents as asyncio tasks in this process, on the supervisor's bus and store."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from agents.testbed.framework.agent import Agent, AgentContext
from agents.testbed.agent_types import agent_class
from agents.testbed.framework.runners.base import AgentRunner, AgentSpec

SETTLE_TIMEOUT_S = 5.0
"""How long a cancelled agent task may take to end before it is abandoned."""

log = logging.getLogger(__name__)


class InProcessRunner(AgentRunner):
    """Runs the agent's ``run()`` as a task; ``kill`` cancels it abruptly, like a crash.

    ``wait`` returns when the task ends OR when the runner abandons it (a cancelled task that
    did not end within :data:`SETTLE_TIMEOUT_S`): the supervisor's watch never waits on a task
    that may never end, so ``stop`` and ``kill`` are bounded whatever the agent does.
    """

    def __init__(self, spec: AgentSpec, context_for: Callable[[AgentSpec], AgentContext]) -> None:
        super().__init__(spec)
        self._context_for = context_for
        self.agent: Agent | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._killed = False
        self._gone = asyncio.Event()  # the task ended, or was abandoned
        self.abandoned = False

    @property
    def pid(self) -> int | None:
        return os.getpid()

    async def start(self) -> None:
        self.agent = agent_class(self.spec.agent_type)(self._context_for(self.spec))
        self._task = asyncio.create_task(self.agent.run(), name=f"agent-{self.spec.name}")
        self._task.add_done_callback(lambda _task: self._gone.set())
        if self._stopping:  # stopped while starting: the agent never serves
            self.agent.stop()

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        if self.agent is None or self._task is None or self._task.done():
            return
        self.agent.stop()
        await asyncio.wait({self._task}, timeout=timeout_s)
        if not self._task.done():
            self._task.cancel()
        await self._settle()

    async def kill(self) -> None:
        if self._task is None or self._task.done():
            return
        self._killed = True
        if self.agent is not None:
            self.agent.killed = True  # what the agent's cleanup reports (a crash, not a stop)
        self._task.cancel()
        await self._settle()

    async def _settle(self) -> None:
        """Wait (bounded) for the cancelled task to end; one that does not is abandoned: it is
        reported gone (``wait`` returns) and left to finish on its own."""
        assert self._task is not None
        await asyncio.wait({self._task}, timeout=SETTLE_TIMEOUT_S)
        if not self._task.done():
            self.abandoned = True
            log.warning("in-process agent task %s did not end %s s after cancellation; abandoned",
                        self._task.get_name(), SETTLE_TIMEOUT_S)
            self._gone.set()
        elif not self._task.cancelled():
            self._task.exception()  # retrieved: the failure is reported by wait()

    def is_alive(self) -> bool:
        return self._task is not None and not self._task.done() and not self.abandoned

    async def wait(self) -> str | None:
        if self._task is None:
            return "never started"
        await self._gone.wait()
        task = self._task
        if not task.done():  # abandoned after a stop or a kill
            return None if self._stopping and not self._killed else "killed (task abandoned after cancellation)"
        if task.cancelled():
            return None if self._stopping and not self._killed else "killed (task cancelled)"
        exc = task.exception()
        if exc is not None:
            return f"crashed: {type(exc).__name__}: {exc}"
        return None if self._stopping else "exited without being asked to stop"
