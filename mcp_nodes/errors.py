"""The execution node's exceptions.

Everything the node raises on purpose derives from `NodeError`; the edge
(`mcp_nodes.edge.translate_error`) turns these, the store's and the testbed's errors and
pydantic validation errors into one MCP ``isError`` result with a message naming the field
and the fix::

    NodeError
    ├── NodeConfigError      settings that cannot work (e.g. --bus stomp without --stomp)
    ├── Forbidden            the caller's identity does not grant the namespace
    └── BadArgument          an argument the schema accepts but the node cannot use
"""

from __future__ import annotations

__all__ = ["BadArgument", "Forbidden", "NodeConfigError", "NodeError"]


class NodeError(Exception):
    """Base class of the node's own errors; the message is shown to the caller as is."""


class NodeConfigError(NodeError):
    """The node's settings cannot work; the message names the setting and the fix."""


class Forbidden(NodeError):
    """The caller may not act on this namespace (or entity in it)."""

    def __init__(self, namespace: str, granted: list[str]) -> None:
        grants = ", ".join(granted) if granted else "none"
        super().__init__(
            f"namespace {namespace!r} is not granted to you (granted: {grants}); "
            "use one of your namespaces or ask an admin for a token that grants it"
        )
        self.namespace = namespace
        self.granted = granted


class BadArgument(NodeError):
    """An argument passes the schema but cannot be used; the message names the field and the fix."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(f"{field}: {problem}; {fix}")
        self.field = field
