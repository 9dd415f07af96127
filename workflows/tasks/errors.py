"""Errors of the task-workflow engine.

The hierarchy::

    TaskWorkflowError            anything the task engine refuses or cannot do
    ├── PlanError                a task plan cannot be built (unknown stage, cycle, bad count/repeat,
    │                            a placeholder with no value)
    ├── PayloadError             a task payload cannot be run (bad callable ref, empty argv)
    └── TaskConfigError          a generated workflow's TOML or module cannot be loaded

A task that fails while it runs is *not* an exception: its result says ``failed`` or ``timeout``
and the scheduler retries it or ends the workflow ``failed`` with a reason naming the task.
"""

from __future__ import annotations


class TaskWorkflowError(Exception):
    """Base class of every error raised by ``workflows.tasks``."""


class PlanError(TaskWorkflowError):
    """A task plan cannot be built from its stages; the message names the stage and the fix."""


class PayloadError(TaskWorkflowError):
    """A payload cannot be run (the callable does not import, the command is empty)."""


class TaskConfigError(TaskWorkflowError):
    """A generated workflow's files cannot be loaded; the message names the file and the field."""
