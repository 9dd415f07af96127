"""``controlroom spec ...`` with the task runtime installed: the spec commands of
:mod:`workflows.spec.cli`, whose ``generate`` dry-runs the workflow on in-process task workers.

The workflow side cannot import the agents layer, so the root CLI loads the ``spec`` group from
here: importing :mod:`agents.tasks` installs the runtime the dry run asks for
(:mod:`workflows.tasks.runtime`).
"""

from __future__ import annotations

import agents.tasks  # noqa: F401 - installs the task runtime
from workflows.spec.cli import app

__all__ = ["app"]
