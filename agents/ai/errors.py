"""Errors of the AI agents.

    AIError
    ├── LLMNotConfigured   no API key: says how to configure one and what runs without it
    ├── LLMUnavailable     the Messages API failed after the SDK's retries (names status and cause)
    └── DebugError         the debugging loop could not proceed (names the step and why)
"""

from __future__ import annotations


class AIError(Exception):
    """Root of the AI agents' errors."""


class LLMNotConfigured(AIError):
    """An LLM was needed and none is configured."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} needs an LLM, and none is configured: set ANTHROPIC_API_KEY (or "
            "CONTROLROOM_AI_API_KEY), optionally ANTHROPIC_BASE_URL and CONTROLROOM_AI_MODEL. "
            "Everything rule-based (diagnosis by the failure catalog, fixes, the direct "
            "`controlroom` commands) works without one."
        )


class LLMUnavailable(AIError):
    """The Messages API did not answer usefully."""


class DebugError(AIError):
    """The debugging loop could not proceed."""
