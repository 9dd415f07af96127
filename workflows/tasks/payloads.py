"""Running one task payload on a worker: a callable, a command, or a synthetic sleep.

Caller code never runs in the worker's own process: commands and callables run in a child
process under bubblewrap (:class:`workflows.tasks.sandbox.Sandbox`), with the payload's run
directory as the only writable path and the payload's :class:`SandboxLimits`.

* ``command``: ``argv`` (no shell) in ``cwd``; ``python``/``python3`` as argv[0] means this
  interpreter. On timeout the whole sandbox (its pid namespace) is killed.
* ``callable``: ``module:function`` called by ``python -m workflows.tasks.invoke`` inside the
  sandbox, ``module`` imported from ``cwd`` (the workflow's directory) or the project.
* ``sleep``: ``asyncio.sleep(seconds)`` in real time; in fast mode nothing is slept and the
  duration is recorded as if it had been. Not caller code: it runs in the worker.

The last non-empty stdout line, if it is a JSON object, is the task's report (``outputs``,
``metrics``).

Example::

    >>> import asyncio
    >>> asyncio.run(run_payload(SleepPayload(seconds=2.0), mode="fast", timeout_s=None)).duration_s
    2.0
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.tasks.errors import PayloadError
from workflows.tasks.invoke import ERROR_PREFIX
from workflows.tasks.messages import CallablePayload, CommandPayload, Mode, Payload, SleepPayload, TaskStatus
from workflows.tasks.sandbox import Finished, Sandbox

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


def _report(value: Any) -> tuple[list[str], dict[str, float]]:
    if not isinstance(value, dict):
        return [], {}
    outputs = [str(o) for o in value.get("outputs", []) or []]
    metrics = {str(k): float(v) for k, v in (value.get("metrics") or {}).items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    return outputs, metrics


async def run_payload(payload: Payload, *, mode: Mode, timeout_s: float | None,
                      sandbox: Sandbox | None = None) -> PayloadOutcome:
    """Run ``payload`` to its end or its timeout; never raises for a failing task.

    ``sandbox``: how caller code runs here (default: bwrap on PATH, nothing hidden).
    """
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
        sandbox = sandbox or Sandbox()
        if isinstance(payload, CallablePayload):
            request = json.dumps({"ref": payload.ref, "args": payload.args}).encode()
            finished = await sandbox.run([sys.executable, "-m", "workflows.tasks.invoke"], run_dir=_path(payload.run_dir),
                                         cwd=_path(payload.cwd), limits=payload.limits, timeout_s=timeout_s,
                                         stdin=request)
        else:
            finished = await sandbox.run(_argv(payload), run_dir=_path(payload.run_dir), cwd=_path(payload.cwd),
                                         limits=payload.limits, timeout_s=timeout_s)
        return _outcome(finished, timeout_s, time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - a failing task is a result, not a crash of the worker
        return PayloadOutcome("failed", time.monotonic() - started, f"{type(exc).__name__}: {exc}")


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def _argv(payload: CommandPayload) -> list[str]:
    argv = payload.argv
    if not argv or not argv[0]:
        raise PayloadError("command payload: argv is empty; give the program to run first")
    if argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    return list(argv)


def _outcome(finished: Finished, timeout_s: float | None, duration: float) -> PayloadOutcome:
    if finished.timed_out:
        return PayloadOutcome("timeout", duration, f"timed out after {timeout_s} s; the task's processes were killed")
    if finished.returncode != 0:
        stderr = finished.stderr.decode(errors="replace").strip()
        marked = [line for line in stderr.splitlines() if line.startswith(ERROR_PREFIX)]
        if marked:  # a callable that raised: its exception, as before the sandbox
            return PayloadOutcome("failed", duration, marked[-1].removeprefix(ERROR_PREFIX)[:STDERR_TAIL])
        return PayloadOutcome("failed", duration, finished.reason(STDERR_TAIL))
    lines = [line for line in finished.stdout.decode(errors="replace").splitlines() if line.strip()]
    value: Any = None
    if lines:
        with contextlib.suppress(ValueError):
            value = json.loads(lines[-1])
    outputs, metrics = _report(value)
    return PayloadOutcome("succeeded", duration, None, outputs, metrics)
