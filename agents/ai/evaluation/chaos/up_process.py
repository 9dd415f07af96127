"""Start and stop the ``controlroom up`` child process the harness drives.

The one place the harness owns a process: :func:`controlroom_up_process` starts it as a
:class:`agents.supervision.child_process.ChildProcess` (its own session, so its agent processes
go with it) and, on the way out, ends the whole group: SIGTERM, then SIGKILL after
``stop_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from agents.supervision.child_process import ChildProcess


@contextlib.asynccontextmanager
async def controlroom_up_process(state_dir: Path, args: list[str], env: dict[str, str],
                                 stop_timeout_s: float = 20.0) -> AsyncIterator[ChildProcess]:
    """``python -m mcp_gateway.cli up ARGS`` with its output in ``STATE_DIR/up.log``; stopped on exit."""
    with (state_dir / "up.log").open("w") as log:
        process = await ChildProcess.start([sys.executable, "-m", "mcp_gateway.cli", "up", *args],
                                           stdout=log, stderr=asyncio.subprocess.STDOUT, env=env)
        try:
            yield process
        finally:
            await process.stop(stop_timeout_s)
