"""Callables the task tests send as payloads (run in the sandbox by ``python -m workflows.tasks.invoke``).

Each call is its own sandboxed process, so what the tests observe goes through the run
directory (the sandbox's one writable path): ``trace`` lines, one call-count file per key.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as out:  # O_APPEND: concurrent tasks' lines do not interleave
        out.write(line + "\n")


def read_trace(run_dir: Path) -> list[str]:
    """``start:<stage>.r<round>.i<index>`` / ``end:...`` lines in the order they happened."""
    path = Path(run_dir) / "trace"
    return path.read_text().split() if path.exists() else []


async def traced(index: int, round: int, run_dir: str, params: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Sleep a little, recording start and end in ``run_dir/trace``; report one output and a metric."""
    key = f"{params['stage']}.r{round}.i{index}"
    _append(Path(run_dir) / "trace", f"start:{key}")
    await asyncio.sleep(float(params.get("sleep_s", 0.01)))
    _append(Path(run_dir) / "trace", f"end:{key}")
    return {"outputs": [f"{run_dir}/{key}"], "metrics": {"last_round": round}}


def flaky(index: int, round: int, run_dir: str, params: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Fail the first ``params['failures']`` calls of each (token, index, round), then succeed."""
    key = f"{params['token']}.{round}.{index}"
    calls = Path(run_dir) / f"calls-{key}"
    _append(calls, "x")
    count = len(calls.read_text().split())
    if count <= int(params["failures"]):
        raise RuntimeError(f"injected failure {count} of {key}")
    return {"metrics": {"calls": count}}


async def slow(index: int, round: int, run_dir: str, params: dict[str, Any], **_: Any) -> None:
    """Take ``params['seconds']`` (longer than the task timeout in the timeout tests)."""
    await asyncio.sleep(float(params["seconds"]))
