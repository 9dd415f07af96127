"""The agent framework every testbed agent kind builds on.

``agent`` (the base class and its bus session), ``supervisor`` (restart policy and heartbeats),
``runners/`` (the agent-runner port: in-process tasks or child processes), ``child`` (the entry
point of a child-process agent), ``status``, ``logsink`` and ``destinations``. Nothing here knows
a concrete agent kind; those live in :mod:`agents.testbed.kinds`.
"""
