"""The command line loads only what a command needs: `controlroom token ...` (and anything else that
reads the gateway's registry store) without FastMCP or the MCP SDK, and no command loads the task
runtime just to be listed. Each check runs in a fresh interpreter and reads its ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_registry_store_does_not_load_the_mcp_stack() -> None:
    loaded = loaded_after("import mcp_gateway.registry_store, mcp_gateway.tokens_cli")
    assert "fastmcp" not in loaded and "mcp" not in loaded


def test_listing_the_commands_loads_no_command_group() -> None:
    loaded = loaded_after("import mcp_gateway.cli")
    assert "agents.tasks" not in loaded and "agents.ai" not in loaded and "sqlalchemy" not in loaded
    assert "mcp_gateway.cli" in loaded  # the probe did import it
