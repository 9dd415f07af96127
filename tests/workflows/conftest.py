"""Workflow tests that run a task workflow (the dry run of ``spec generate``, the SimPy bridge) need
the task runtime, which the agents layer installs: importing :mod:`agents.tasks` does, as the node
and ``controlroom`` do."""

import agents.tasks  # noqa: F401 - installs the task runtime (workflows.tasks.runtime)
