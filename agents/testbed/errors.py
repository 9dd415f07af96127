"""The testbed's exceptions, all rooted at ``TestbedError``.

Each message names the field or thing at fault and says what to do about it::

    TestbedError                  the testbed could not do what was asked
    ├── TestbedNotRunning         no running testbed in the namespace (call start_testbed first)
    ├── AlreadyRunning            a testbed or execution is already running where one was asked to start
    ├── AgentNotFound             no agent of that name (list_agents shows the names)
    ├── ExecutionNotFound         no execution of that id (list_workflow_executions shows the ids)
    └── InvalidRequest            a bad argument (namespace, parameters, config, msg_type ...)
"""

from __future__ import annotations


class TestbedError(Exception):
    """The testbed could not do what was asked."""

    __test__ = False  # not a pytest class


class TestbedNotRunning(TestbedError):
    """No testbed is running in the namespace."""

    def __init__(self, namespace: str) -> None:
        super().__init__(
            f"namespace {namespace!r}: no testbed is running here; call start_testbed(namespace={namespace!r}) first"
        )
        self.namespace = namespace


class AlreadyRunning(TestbedError):
    """Something that must run once is already running."""


class AgentNotFound(TestbedError):
    """No agent of that name is known."""

    def __init__(self, name: str) -> None:
        super().__init__(f"agent {name!r} was not found; list_agents shows the names of running agents")
        self.name = name


class ExecutionNotFound(TestbedError):
    """No execution of that id is known."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(
            f"execution_id {execution_id!r} was not found; list_workflow_executions shows the known ids"
        )
        self.execution_id = execution_id


class InvalidRequest(TestbedError):
    """A bad argument: the message names the field and the fix."""
