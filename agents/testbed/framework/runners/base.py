"""The agent-runner port: start an agent, stop it, tell whether it is alive.

Two adapters: :class:`~agents.testbed.framework.runners.inprocess.InProcessRunner` (an asyncio task on
the supervisor's loop and bus) and :class:`~agents.testbed.framework.runners.process.ProcessRunner` (a
child process connected to the broker and the database). The supervisor only uses this port.

Example::

    runner = InProcessRunner(spec, context_for=lambda spec: AgentContext(...))
    await runner.start()
    crash = await runner.wait()        # None when it was asked to stop, else what went wrong
    await runner.stop()
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AgentSpec:
    """What to run: an agent type with its id in a namespace, and type-specific options."""

    agent_type: str
    namespace: str
    agent_id: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        """The agent's name, ``{type}-agent-{namespace}-{id}``."""
        return f"{self.agent_type}-agent-{self.namespace}-{self.agent_id}"


class AgentRunner(ABC):
    """Runs one agent (one incarnation: after it ends, start a new runner)."""

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec

    @property
    def pid(self) -> int | None:
        """The agent's process id (this process for in-process agents)."""
        return None

    @abstractmethod
    async def start(self) -> None:
        """Start the agent; returns once it is launched (not necessarily READY)."""

    @abstractmethod
    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the agent to exit cleanly; force it after ``timeout_s``."""

    @abstractmethod
    async def kill(self) -> None:
        """End the agent at once, as a crash would (no clean exit)."""

    @abstractmethod
    def is_alive(self) -> bool:
        """Whether the agent is running."""

    @abstractmethod
    async def wait(self) -> str | None:
        """Wait until the agent ends: None after a requested stop, else a description of the crash."""
