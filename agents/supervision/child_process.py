"""One child process in its own process group: start it, wait for it, stop it, kill it, reap it.

The one copy of child-process supervision (the agent runner's children, the task-worker pool's
children and the chaos harness's ``controlroom up`` use it). The parent side:

* :meth:`ChildProcess.start` launches the command in a new session, so its process group holds
  everything it starts and one signal reaches all of it;
* :meth:`ChildProcess.stop` sends SIGTERM to the group, waits ``grace_s``, then sends SIGKILL to
  the group (whatever is left in it, grandchildren included) and reaps the child;
* :meth:`ChildProcess.kill` sends SIGKILL at once, as a crash would, and reaps.

The child side keeps the lifeline, so no child outlives its parent: :func:`die_with_parent`
(``PR_SET_PDEATHSIG``: the kernel signals the child when its parent dies; Linux) and
:func:`watch_parent` (an asyncio task that notices the parent's death and asks for a clean exit).

Example::

    child = await ChildProcess.start([sys.executable, "-m", "agents.tasks.worker", ...],
                                     stdout=asyncio.subprocess.PIPE)
    ...
    await child.stop(grace_s=10.0)        # True when it exited within the grace period
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["ChildProcess", "die_with_parent", "kill_group", "watch_parent"]

PR_SET_PDEATHSIG = 1


def kill_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid``; False when it is gone."""
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class ChildProcess:
    """A child process leading its own process group (see the module docstring)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(
        cls,
        command: Sequence[str],
        *,
        stdin: int | None = asyncio.subprocess.DEVNULL,
        stdout: int | None = asyncio.subprocess.DEVNULL,
        stderr: int | None = None,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> ChildProcess:
        """Launch ``command`` in a new session (its own process group); ``env`` is added to ours."""
        environment = {**os.environ, **env} if env is not None else None
        process = await asyncio.create_subprocess_exec(*command, stdin=stdin, stdout=stdout, stderr=stderr,
                                                       env=environment, start_new_session=True, **kwargs)
        return cls(process)

    @property
    def pid(self) -> int:
        """The child's process id, which is also its process group id."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped (negative: the signal that ended it); None while it runs."""
        return self.process.returncode

    def is_alive(self) -> bool:
        """Whether the child has not been reaped yet."""
        return self.process.returncode is None

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the child's process group; False when it is gone."""
        return kill_group(self.process.pid, sig)

    async def wait(self) -> int:
        """Wait until the child exits; its exit status."""
        return await self.process.wait()

    async def stop(self, grace_s: float = 10.0) -> bool:
        """SIGTERM to the group, up to ``grace_s`` to exit, then SIGKILL to the group; reaped on return.

        True when the child exited within the grace period (or had already exited).
        """
        clean = True
        if self.process.returncode is None:
            self.signal_group(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace_s):
                    await self.process.wait()
            except TimeoutError:
                clean = False
        self.signal_group(signal.SIGKILL)  # anything left in the group, the child too when it did not exit
        await self.process.wait()
        return clean

    async def kill(self) -> None:
        """SIGKILL to the group at once (as a crash would); reaped on return."""
        self.signal_group(signal.SIGKILL)
        await self.process.wait()


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Child side: ask Linux to send ``sig`` to this process when its parent dies.

    When the parent is already gone (it died before the call), exit at once. A no-op where
    ``prctl`` is missing (not Linux); :func:`watch_parent` covers those.
    """
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


async def watch_parent(on_death: Callable[[], None], parent: int | None = None, interval_s: float = 0.5) -> None:
    """Child side: call ``on_death`` once the parent (``parent``, default: the current one) has died."""
    parent = os.getppid() if parent is None else parent
    while os.getppid() == parent:
        await asyncio.sleep(interval_s)
    on_death()
