"""The chaos harness's one exception.

    AIError                  (agents.ai.errors)
    └── ChaosError           a failure could not be injected, or a live system for it did not come up

It lives here, not in the testbed's errors: the harness drives ``controlroom up`` from outside
(MCP and signals) and imports nothing of the testbed it breaks.
"""

from __future__ import annotations

from agents.ai.errors import AIError


class ChaosError(AIError):
    """Failure injection could not inject (or a live system for it did not come up)."""
