"""Agents as child processes: ``python -m agents.testbed.framework.child`` on the broker and the database.

Each child is a :class:`agents.supervision.child_process.ChildProcess`: it starts in its own
session (process group), so stopping it reaches anything it started; it also dies with its
parent (``PR_SET_PDEATHSIG`` on Linux, and a parent-watch task in the child). ``stop`` sends
SIGTERM to the group (the agent exits cleanly, heart-beating EXITED), then SIGKILL after the
timeout; ``kill`` sends SIGKILL at once, as a crash would. The child's stderr is forwarded,
line by line, to the supervisor's logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from agents.supervision.child_process import ChildProcess, kill_group
from agents.testbed.framework.runners.base import AgentRunner, AgentSpec

__all__ = ["ProcessRunner", "child_command", "kill_group"]


def child_command(
    spec: AgentSpec,
    *,
    stomp: tuple[str, int],
    database_url: str,
    heartbeat_interval_s: float,
    database_schema: str | None = None,
) -> list[str]:
    """The command line of an agent child process."""
    command = [
        sys.executable, "-m", "agents.testbed.framework.child",
        "--type", spec.agent_type,
        "--namespace", spec.namespace,
        "--id", spec.agent_id,
        "--stomp", f"{stomp[0]}:{stomp[1]}",
        "--database-url", database_url,
        "--heartbeat-interval", str(heartbeat_interval_s),
    ]
    if database_schema:
        command += ["--database-schema", database_schema]
    for key, value in sorted(spec.options.items()):
        command += ["--option", f"{key}={value}"]
    return command


class ProcessRunner(AgentRunner):
    """Runs one agent as a child process in its own process group."""

    def __init__(self, spec: AgentSpec, command: list[str], log: logging.Logger) -> None:
        super().__init__(spec)
        self.command = command
        self.log = log
        self.child: ChildProcess | None = None
        self._stopping = False
        self._killed = False
        self._stderr: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None else None

    async def start(self) -> None:
        self.child = await ChildProcess.start(self.command, stderr=asyncio.subprocess.PIPE,
                                              env={"PYTHONUNBUFFERED": "1"})
        self._stderr = asyncio.create_task(self._forward_stderr(), name=f"stderr-{self.spec.name}")
        if self._stopping or self._killed:  # stopped while it was being launched: nobody signals it later
            self.child.signal_group(signal.SIGKILL)

    async def _forward_stderr(self) -> None:
        assert self.child is not None and self.child.process.stderr is not None
        while line := await self.child.process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self.log.warning("%s stderr: %s", self.spec.name, text)

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        if self.child is not None and not await self.child.stop(timeout_s):
            self.log.warning("%s did not exit within %.0f s of SIGTERM; killed it", self.spec.name, timeout_s)
        await self._reap()

    async def kill(self) -> None:
        self._killed = True
        if self.child is not None and self.child.is_alive():
            await self.child.kill()
        await self._reap()

    async def _reap(self) -> None:
        if self.child is not None:
            await self.child.wait()
        if self._stderr is not None:
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(2.0):
                    await self._stderr

    def is_alive(self) -> bool:
        return self.child is not None and self.child.is_alive()

    async def wait(self) -> str | None:
        if self.child is None:
            return "never started"
        code = await self.child.wait()
        if self._stopping:
            return None
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exited with code {code}" if code else "exited without being asked to stop"
