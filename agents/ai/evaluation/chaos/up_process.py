"""Start and stop the ``controlroom up`` child process the harness drives.

The one place the harness owns a process: :func:`controlroom_up_process` starts it in its own
session (so its agent processes go with it) and, on the way out, ends the whole group: SIGTERM,
then SIGKILL after ``stop_timeout_s``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def controlroom_up_process(state_dir: Path, args: list[str], env: dict[str, str],
                           stop_timeout_s: float = 20.0) -> Iterator[subprocess.Popen[str]]:
    """``python -m mcp_gateway.cli up ARGS`` with its output in ``STATE_DIR/up.log``; stopped on exit."""
    with (state_dir / "up.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mcp_gateway.cli", "up", *args],
            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=stop_timeout_s)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
