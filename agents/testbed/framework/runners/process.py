"""Agents as child processes: ``python -m agents.testbed.framework.child`` on the broker and the database.

Each child starts in its own session (process group), so stopping it reaches anything it
started; it also dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and a parent-watch task
in the child). ``stop`` sends SIGTERM to the group (the agent exits cleanly, heart-beating
EXITED), then SIGKILL after the timeout; ``kill`` sends SIGKILL at once, as a crash would.
The child's stderr is forwarded, line by line, to the supervisor's logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from agents.testbed.framework.runners.base import AgentRunner, AgentSpec


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


def kill_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid``; False when it is gone."""
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class ProcessRunner(AgentRunner):
    """Runs one agent as a child process in its own process group."""

    def __init__(self, spec: AgentSpec, command: list[str], log: logging.Logger) -> None:
        super().__init__(spec)
        self.command = command
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._killed = False
        self._stderr: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
        self._stderr = asyncio.create_task(self._forward_stderr(), name=f"stderr-{self.spec.name}")
        if self._stopping or self._killed:  # stopped while it was being launched: nobody signals it later
            kill_group(self.process.pid, signal.SIGKILL)

    async def _forward_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self.log.warning("%s stderr: %s", self.spec.name, text)

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        process = self.process
        if process is None or process.returncode is not None:
            await self._reap()
            return
        kill_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            self.log.warning("%s did not exit within %.0f s of SIGTERM; killing it", self.spec.name, timeout_s)
        kill_group(process.pid, signal.SIGKILL)  # anything left in the group
        await self._reap()

    async def kill(self) -> None:
        self._killed = True
        process = self.process
        if process is not None and process.returncode is None:
            kill_group(process.pid, signal.SIGKILL)
        await self._reap()

    async def _reap(self) -> None:
        if self.process is not None:
            await self.process.wait()
        if self._stderr is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._stderr, 2.0)

    def is_alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait(self) -> str | None:
        if self.process is None:
            return "never started"
        code = await self.process.wait()
        if self._stopping:
            return None
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exited with code {code}" if code else "exited without being asked to stop"
