"""Fixtures for the AI agents' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agents.ai.messages_api import ScriptedMessagesAPI


@pytest.fixture
def messages_api() -> Iterator[ScriptedMessagesAPI]:
    server = ScriptedMessagesAPI([])
    server.start()
    yield server
    server.stop()
