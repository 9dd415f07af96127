"""The gateway's exception hierarchy, translated to MCP results in one place.

```
GatewayError                  anything the gateway refuses or cannot do
├── AuthError                 no or unknown bearer token            -> HTTP 401
├── AccessDenied              namespace or scope not granted        -> isError, outcome "denied"
├── RateLimited               the principal's token bucket is empty -> isError, outcome "rate_limited"
├── RoutingError              no node can take the call             -> isError, outcome "node_down"
│   ├── NodeDown              the chosen node is down / breaker open
│   └── UnknownEntity         no healthy node holds the id in the caller's namespaces -> outcome "is_error"
├── CallTimeout               the node did not answer in time       -> isError, outcome "timeout"
├── OutputTooLarge            the node's answer exceeds the limit   -> isError, outcome "is_error"
├── NodeFailed                the node answered HTTP or protocol errors -> isError, outcome "is_error"
│   └── NodeRejected          the node refused the request itself (HTTP 4xx): the caller's fault
└── RegistryError             bad registration / heartbeat          -> HTTP 4xx on /nodes
    └── UnknownNode           heartbeat or lookup for a node the registry does not hold -> 404
```

Each message names what happened and what to do next; `mcp_gateway.results.error_result`
is the one function that turns these into MCP ``isError`` results.
"""

from __future__ import annotations

from typing import Literal

Outcome = Literal["ok", "is_error", "denied", "timeout", "cancelled", "node_down", "rate_limited"]


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    outcome: Outcome = "is_error"


class AuthError(GatewayError):
    """The request carries no bearer token, or one the gateway does not know."""

    outcome: Outcome = "denied"


class AccessDenied(GatewayError):
    """The principal is not granted the namespace (or scope) the call needs."""

    outcome: Outcome = "denied"


class RateLimited(GatewayError):
    """The principal's call rate is over its configured limit."""

    outcome: Outcome = "rate_limited"


class RoutingError(GatewayError):
    """No healthy node can take the call."""

    outcome: Outcome = "node_down"


class NodeDown(RoutingError):
    """The chosen node is down, or its circuit breaker is open."""


class UnknownEntity(RoutingError):
    """An id (execution, run, agent, file, log entry) no healthy node holds in the caller's namespaces:
    the caller's mistake (a guessed id), not the nodes' health."""

    outcome: Outcome = "is_error"


class CallTimeout(GatewayError):
    """The node did not answer within the call's timeout."""

    outcome: Outcome = "timeout"


class OutputTooLarge(GatewayError):
    """The node's answer is larger than the gateway's output limit."""


class NodeFailed(GatewayError):
    """The node answered with an HTTP error or a JSON-RPC error instead of a result."""


class NodeRejected(NodeFailed):
    """The node refused the forwarded request as malformed (HTTP 4xx): the caller's fault, not the node's."""


class RegistryError(GatewayError):
    """A registration or heartbeat is malformed or not allowed."""


class UnknownNode(RegistryError):
    """The registry holds no node of that name (re-register)."""
