"""`controlroom up` in a child process, for end-to-end tests: start on a free port, stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_up(state: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start `controlroom up` on a free port; returns the process and its connection details."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_gateway.cli", "up", "--state-dir", str(state), "--port", str(_free_port()), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    connection = state / "connection.json"
    deadline = time.monotonic() + 60
    while not connection.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"controlroom up did not come up:\n{output}")
        time.sleep(0.1)
    try:
        details = json.loads(connection.read_text())
    except BaseException:
        stop_up(process)  # never leave a started `up` behind (it outlived a failed test once)
        raise
    details["state_dir"] = str(state)
    return process, details


def stop_up(process: subprocess.Popen[str]) -> str:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
    return out
