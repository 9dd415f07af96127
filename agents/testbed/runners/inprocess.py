"""Agents as asyncio tasks in this process, on the supervisor's bus and store."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from agents.testbed.agent import Agent, AgentContext
from agents.testbed.catalog import agent_class
from agents.testbed.runners.base import AgentRunner, AgentSpec


SETTLE_TIMEOUT_S = 5.0

class InProcessRunner(AgentRunner):
    """Runs the agent's ``run()`` as a task; ``kill`` cancels it abruptly, like a crash."""

    def __init__(self, spec: AgentSpec, context_for: Callable[[AgentSpec], AgentContext]) -> None:
        super().__init__(spec)
        self._context_for = context_for
        self.agent: Agent | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return os.getpid()

    async def start(self) -> None:
        self.agent = agent_class(self.spec.agent_type)(self._context_for(self.spec))
        self._task = asyncio.create_task(self.agent.run(), name=f"agent-{self.spec.name}")

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        if self.agent is None or self._task is None:
            return
        self.agent.stop()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            self._task.cancel()
        except BaseException:  # noqa: BLE001 - the agent's own failure is reported by wait()
            pass
        await self._settle()

    async def kill(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await self._settle()

    async def _settle(self) -> None:
        """Wait (bounded) for the cancelled task to end; an agent that does not end in time is
        abandoned with a warning rather than hanging the supervisor (a stop must not hang)."""
        assert self._task is not None
        done, _ = await asyncio.wait({self._task}, timeout=SETTLE_TIMEOUT_S)
        if not done:
            logging.getLogger(__name__).warning("in-process agent task %s did not end %s s after cancellation; abandoned",
                                                self._task.get_name(), SETTLE_TIMEOUT_S)
        elif not self._task.cancelled():
            self._task.exception()  # retrieved: the failure is reported by wait()

    def is_alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait(self) -> str | None:
        if self._task is None:
            return "never started"
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if self._task.cancelled():
                return None if self._stopping else "killed (task cancelled)"
            raise
        except Exception as exc:  # noqa: BLE001 - a crash is what we report
            return f"crashed: {type(exc).__name__}: {exc}"
        return None if self._stopping else "exited without being asked to stop"
