"""Callables the task tests send as payloads (imported by the workers as ``module:function``)."""

from __future__ import annotations

import asyncio
from typing import Any

TRACE: list[str] = []
"""``start:<stage>.r<round>.i<index>`` / ``end:...`` in the order they happened (in-process workers)."""

CALLS: dict[str, int] = {}


async def traced(index: int, round: int, run_dir: str, params: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Sleep a little, recording start and end; report one output and a metric."""
    key = f"{params['stage']}.r{round}.i{index}"
    TRACE.append(f"start:{key}")
    await asyncio.sleep(float(params.get("sleep_s", 0.01)))
    TRACE.append(f"end:{key}")
    return {"outputs": [f"{run_dir}/{key}"], "metrics": {"last_round": round}}


def flaky(index: int, round: int, run_dir: str, params: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Fail the first ``params['failures']`` calls of each (token, index, round), then succeed (runs in a thread)."""
    key = f"{params['token']}.{round}.{index}"
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] <= int(params["failures"]):
        raise RuntimeError(f"injected failure {CALLS[key]} of {key}")
    return {"metrics": {"calls": CALLS[key]}}


async def slow(index: int, round: int, run_dir: str, params: dict[str, Any], **_: Any) -> None:
    """Take ``params['seconds']`` (longer than the task timeout in the timeout tests)."""
    await asyncio.sleep(float(params["seconds"]))
