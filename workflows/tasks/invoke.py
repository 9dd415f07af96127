"""``python -m workflows.tasks.invoke``: call one task callable, inside the sandbox, never in the node.

Reads ``{"ref": "module:function", "args": {...}}`` (JSON) from stdin, imports ``module`` (the
working directory, the workflow's own directory, comes first on ``sys.path``), calls
``function(**args)`` (a coroutine function is run with ``asyncio.run``) and prints the report on
the last stdout line: ``{"outputs": [...], "metrics": {...}}`` when the function returned a dict
with those keys, else ``{}``. A failure exits 1 with the traceback on stderr and, last, one line
``ERROR_PREFIX<Type>: <message>`` that :mod:`workflows.tasks.payloads` turns into the task's error.

Example (what the worker runs, inside bwrap)::

    echo '{"ref": "fl_tasks:train", "args": {"index": 0, "round": 0}}' | python -m workflows.tasks.invoke
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
import traceback
from typing import Any

__all__ = ["ERROR_PREFIX", "main"]

ERROR_PREFIX = "controlroom-callable-error: "


def _call(ref: str, args: dict[str, Any]) -> Any:
    module_name, _, name = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"callable {ref!r}: module {module_name!r} does not import ({exc})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise LookupError(f"callable {ref!r}: {module_name} has no function {name!r}")
    if inspect.iscoroutinefunction(function):
        return asyncio.run(function(**args))
    return function(**args)


def _report(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    report: dict[str, Any] = {}
    if "outputs" in value:
        report["outputs"] = [str(o) for o in value.get("outputs") or []]
    if "metrics" in value:
        report["metrics"] = {str(k): v for k, v in (value.get("metrics") or {}).items()
                             if isinstance(v, int | float) and not isinstance(v, bool)}
    return report


def main() -> int:
    """Entry point: exit 0 with the report line, or 1 with the error line on stderr."""
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        request = json.loads(sys.stdin.read())
        value = _call(str(request["ref"]), dict(request.get("args") or {}))
        line = json.dumps(_report(value))
    except BaseException as exc:  # noqa: BLE001 - everything the callable raises is the task's failure
        traceback.print_exc()
        message = " ".join(str(exc).split())
        print(f"{ERROR_PREFIX}{type(exc).__name__}: {message}", file=sys.stderr, flush=True)
        return 1
    sys.stdout.flush()
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
