"""Shared fixtures: where the real ActiveMQ and PostgreSQL are, and whether a test may skip.

Tests that need a service carry a marker (``activemq``, ``postgres``). Outside CI such a test
skips when its service does not answer; under ``CI=true`` it fails instead, so CI never passes
by skipping what it was meant to exercise.
"""

from __future__ import annotations

import os
import socket

import pytest


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _need(service: str, host: str, port: int) -> None:
    if _answers(host, port):
        return
    message = f"{service} does not answer on {host}:{port} (start it with .ci/run or see README)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def stomp_address() -> tuple[str, int]:
    """ActiveMQ's STOMP connector (``CONTROLROOM_TEST_STOMP``, default 127.0.0.1:61613)."""
    host, _, port = os.environ.get("CONTROLROOM_TEST_STOMP", "127.0.0.1:61613").partition(":")
    _need("ActiveMQ (STOMP)", host, int(port))
    return host, int(port)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """An async SQLAlchemy URL of a scratch PostgreSQL database (``CONTROLROOM_TEST_POSTGRES_URL``)."""
    url = os.environ.get(
        "CONTROLROOM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/controlroom_test"
    )
    _need("PostgreSQL", "127.0.0.1", 5432)
    return url
