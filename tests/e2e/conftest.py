"""`controlroom up` (gateway + local node, admin token) once per test module, for the real clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.up import start_up, stop_up


@pytest.fixture(scope="module")
def controlroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``url`` (the gateway's /mcp), ``token`` (admin, every namespace), ``state_dir``."""
    process, details = start_up(tmp_path_factory.mktemp("up") / "state")
    try:
        yield details
    finally:  # its console output stays beside its state, for a failure's forensics
        (Path(details["state_dir"]) / "up-console.log").write_text(stop_up(process))
