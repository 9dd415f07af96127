"""Task (fan-out/fan-in) workflows: stages of tasks sent to worker agents over the bus.

Import from the modules: ``workflows.tasks.plan`` (stages -> groups), ``workflows.tasks.scheduler``
(runs a plan), ``workflows.tasks.worker`` (the worker agent), ``workflows.tasks.messages`` (what
crosses the bus), ``workflows.tasks.payloads`` (running one payload), ``workflows.tasks.sandbox``
(the bubblewrap sandbox every command and callable runs in; ``workflows.tasks.invoke`` calls a
callable inside it), ``workflows.tasks.spec_plan``
(a SPEC.md -> a plan) and ``workflows.tasks.definition`` (a task workflow in the definitions registry).
"""

from workflows.tasks.errors import PayloadError, PlanError, TaskConfigError, TaskWorkflowError

__all__ = ["PayloadError", "PlanError", "TaskConfigError", "TaskWorkflowError"]
