"""Agents as asyncio tasks in this process, on the supervisor's bus and store."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from agents.testbed.agent import Agent, AgentContext
from agents.testbed.catalog import agent_class
from agents.testbed.runners.base import AgentRunner, AgentSpec


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
        with contextlib.suppress(BaseException):
            await self._task

    async def kill(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

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
