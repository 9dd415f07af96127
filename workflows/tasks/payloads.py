"""Running one task payload on a worker: a callable, a command, or a synthetic sleep.

* ``callable``: ``module:function`` imported once per process; a coroutine function is awaited
  with ``asyncio.wait_for`` (cancelled on timeout), a plain function runs in a thread (on timeout
  the result is ``timeout`` at once; the thread cannot be killed and finishes in the background).
* ``command``: ``asyncio.create_subprocess_exec`` in its own session; on timeout the whole
  process group gets SIGKILL. ``python``/``python3`` as argv[0] means this interpreter. The last
  non-empty stdout line, if it is a JSON object, is the task's report (``outputs``, ``metrics``).
* ``sleep``: ``asyncio.sleep(seconds)`` in real time; in fast mode nothing is slept and the
  duration is recorded as if it had been.

Example::

    >>> import asyncio
    >>> asyncio.run(run_payload(SleepPayload(seconds=2.0), mode="fast", timeout_s=None)).duration_s
    2.0
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workflows.tasks.errors import PayloadError
from workflows.tasks.messages import CallablePayload, CommandPayload, Mode, Payload, SleepPayload, TaskStatus

STDERR_TAIL = 2000
"""Characters of a failed command's stderr kept in the result's error."""


@dataclass
class PayloadOutcome:
    """What one run of a payload gave."""

    status: TaskStatus
    duration_s: float
    error: str | None = None
    outputs: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


_CALLABLES: dict[str, Callable[..., Any]] = {}


def resolve_callable(ref: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (cached); raise :class:`PayloadError` naming the ref."""
    found = _CALLABLES.get(ref)
    if found is not None:
        return found
    module_name, _, name = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PayloadError(f"callable {ref!r}: module {module_name!r} does not import ({exc})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise PayloadError(f"callable {ref!r}: {module_name} has no function {name!r}")
    _CALLABLES[ref] = function
    return function


def _report(value: Any) -> tuple[list[str], dict[str, float]]:
    if not isinstance(value, dict):
        return [], {}
    outputs = [str(o) for o in value.get("outputs", []) or []]
    metrics = {str(k): float(v) for k, v in (value.get("metrics") or {}).items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    return outputs, metrics


async def run_payload(payload: Payload, *, mode: Mode, timeout_s: float | None) -> PayloadOutcome:
    """Run ``payload`` to its end or its timeout; never raises for a failing task."""
    started = time.monotonic()
    try:
        if isinstance(payload, SleepPayload):
            if mode == "fast":
                return PayloadOutcome("succeeded", payload.seconds)
            if timeout_s is not None and payload.seconds > timeout_s:
                await asyncio.sleep(timeout_s)
                return PayloadOutcome("timeout", time.monotonic() - started, f"timed out after {timeout_s} s")
            await asyncio.sleep(payload.seconds)
            return PayloadOutcome("succeeded", time.monotonic() - started)
        if isinstance(payload, CallablePayload):
            return await _run_callable(payload, timeout_s, started)
        return await _run_command(payload, timeout_s, started)
    except Exception as exc:  # noqa: BLE001 - a failing task is a result, not a crash of the worker
        return PayloadOutcome("failed", time.monotonic() - started, f"{type(exc).__name__}: {exc}")


async def _run_callable(payload: CallablePayload, timeout_s: float | None, started: float) -> PayloadOutcome:
    function = resolve_callable(payload.ref)
    if asyncio.iscoroutinefunction(function):
        work = function(**payload.args)
    else:
        work = asyncio.to_thread(function, **payload.args)
    try:
        value = await asyncio.wait_for(work, timeout=timeout_s)
    except TimeoutError:
        return PayloadOutcome("timeout", time.monotonic() - started, f"timed out after {timeout_s} s")
    outputs, metrics = _report(value)
    return PayloadOutcome("succeeded", time.monotonic() - started, None, outputs, metrics)


def _argv(argv: list[str]) -> list[str]:
    if not argv or not argv[0]:
        raise PayloadError("command payload: argv is empty; give the program to run first")
    if argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    return list(argv)


async def _run_command(payload: CommandPayload, timeout_s: float | None, started: float) -> PayloadOutcome:
    process = await asyncio.create_subprocess_exec(
        *_argv(payload.argv), cwd=payload.cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await process.wait()
        return PayloadOutcome("timeout", time.monotonic() - started,
                              f"timed out after {timeout_s} s; process group {process.pid} killed")
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    duration = time.monotonic() - started
    if process.returncode != 0:
        tail = stderr.decode(errors="replace").strip()[-STDERR_TAIL:]
        return PayloadOutcome("failed", duration, f"exit status {process.returncode}: {tail or '(no stderr)'}")
    lines = [line for line in stdout.decode(errors="replace").splitlines() if line.strip()]
    value: Any = None
    if lines:
        with contextlib.suppress(ValueError):
            value = json.loads(lines[-1])
    outputs, metrics = _report(value)
    return PayloadOutcome("succeeded", duration, None, outputs, metrics)
