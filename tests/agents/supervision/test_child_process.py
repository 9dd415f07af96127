"""The one copy of child-process supervision: stop escalates to SIGKILL, reaches the whole group,
and the lifeline ends a child whose parent died."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from agents.supervision.child_process import ChildProcess

STUBBORN = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)']); "
            "print(p.pid, flush=True); time.sleep(3600)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split(")")[-1].split()[0] != "Z"


async def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_clean_child_stops_within_the_grace_period() -> None:
    child = await ChildProcess.start([sys.executable, "-c", "import time; time.sleep(3600)"])
    assert child.is_alive()
    assert await child.stop(grace_s=10.0) is True
    assert child.returncode == -signal.SIGTERM and not child.is_alive()


async def test_a_child_ignoring_sigterm_is_killed_with_its_whole_group() -> None:
    child = await ChildProcess.start([sys.executable, "-c", STUBBORN], stdout=asyncio.subprocess.PIPE)
    assert child.process.stdout is not None
    grandchild = int((await child.process.stdout.readline()).decode())
    try:
        started = time.monotonic()
        assert await child.stop(grace_s=0.5) is False
        assert time.monotonic() - started < 5
        assert child.returncode == -signal.SIGKILL
        assert await _gone(grandchild), "the grandchild in the child's group survived the stop"
    finally:
        if _alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)


async def test_kill_is_immediate() -> None:
    child = await ChildProcess.start([sys.executable, "-c", STUBBORN], stdout=asyncio.subprocess.PIPE)
    assert child.process.stdout is not None
    grandchild = int((await child.process.stdout.readline()).decode())
    await child.kill()
    assert child.returncode == -signal.SIGKILL
    assert await _gone(grandchild)


LIFELINE_PARENT = """
import subprocess, sys, time
code = ("from agents.supervision.child_process import die_with_parent; import signal, time; "
        "die_with_parent(signal.SIGKILL); print('ready', flush=True); time.sleep(3600)")
p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, start_new_session=True)
assert p.stdout.readline().strip() == b'ready'
print(p.pid, flush=True)
time.sleep(3600)
"""


async def test_the_lifeline_ends_a_child_whose_parent_died() -> None:
    # the grandchild is in its own session: only the lifeline (PR_SET_PDEATHSIG) can end it
    parent = await ChildProcess.start([sys.executable, "-c", LIFELINE_PARENT], stdout=asyncio.subprocess.PIPE,
                                      cwd=os.getcwd())
    assert parent.process.stdout is not None
    orphan = int((await asyncio.wait_for(parent.process.stdout.readline(), 30)).decode())
    try:
        assert _alive(orphan)
        await parent.kill()
        assert await _gone(orphan), "the child outlived its parent"
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)
