"""The agent types a testbed can run, by the name used in testbed.toml ``[agents.NAME]``.

The workflow runner always runs; ``worker`` agents form the pool the fast processing agent
scales. A test or an extension may :func:`register_agent_type` its own type.

Example::

    >>> agent_class("fastmon").__name__
    'FastmonAgent'
"""

from __future__ import annotations

from agents.testbed.framework.agent import Agent
from agents.testbed.kinds.data import DataAgent
from agents.testbed.errors import InvalidRequest
from agents.testbed.kinds.fastmon import FastmonAgent
from agents.testbed.kinds.fast_processing import FastProcessingAgent
from agents.testbed.kinds.processing import ProcessingAgent
from agents.testbed.kinds.workflow_runner import WorkflowRunnerAgent
from agents.testbed.kinds.slice_worker import WorkerAgent

AGENT_TYPES: dict[str, type[Agent]] = {
    cls.agent_type: cls
    for cls in (WorkflowRunnerAgent, DataAgent, ProcessingAgent, FastmonAgent, FastProcessingAgent, WorkerAgent)
}


def agent_class(agent_type: str) -> type[Agent]:
    """The class of an agent type; the error lists the known types."""
    try:
        return AGENT_TYPES[agent_type]
    except KeyError:
        raise InvalidRequest(
            f"agent type {agent_type!r} is unknown; use one of {', '.join(sorted(AGENT_TYPES))}"
        ) from None


def register_agent_type(cls: type[Agent]) -> type[Agent]:
    """Make an agent class available to testbeds under its ``agent_type`` (usable as a decorator)."""
    AGENT_TYPES[cls.agent_type] = cls
    return cls
