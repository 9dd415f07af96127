"""Task (fan-out/fan-in) workflows: what a task workflow is; the runtime that runs one is :mod:`agents.tasks`.

Import from the modules: ``workflows.tasks.plan`` (stages -> groups), ``workflows.tasks.workflow``
(a named workflow with parameters and config), ``workflows.tasks.config`` (its TOML),
``workflows.tasks.messages`` (what crosses the bus), ``workflows.tasks.payloads`` (running one
payload), ``workflows.tasks.sandbox`` (the bubblewrap sandbox every command and callable runs in;
``workflows.tasks.invoke`` calls a callable inside it), ``workflows.tasks.summary`` (what a run
reports), ``workflows.tasks.runtime`` (the port the agents' task runtime is installed in) and
``workflows.tasks.bridge`` (a task workflow in the definitions registry). Nothing here imports the
agents layer.
"""

from workflows.tasks.errors import PayloadError, PlanError, TaskConfigError, TaskWorkflowError

__all__ = ["PayloadError", "PlanError", "TaskConfigError", "TaskWorkflowError"]
