"""Claude Code itself accepts the plugin and the repository's marketplace (`claude plugin validate`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CLAUDE = ROOT / "node_modules" / ".bin" / "claude"

pytestmark = pytest.mark.e2e


def _validate(target: Path, home: Path) -> tuple[int, str]:
    if not CLAUDE.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CLAUDE} is missing; run npm ci")
        pytest.skip("Claude Code is not installed (npm ci)")
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "NO_COLOR": "1"}
    done = subprocess.run([str(CLAUDE), "plugin", "validate", "--strict", str(target)], capture_output=True,
                          text=True, timeout=90, env=env, cwd=home, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("target", ["skills", "."])
def test_claude_plugin_validate_passes(target: str, tmp_path: Path) -> None:
    code, output = _validate(ROOT / target, tmp_path)
    assert code == 0, output
    assert "Validation passed" in output and "with warnings" not in output, output


def test_the_marketplace_points_at_the_plugin() -> None:
    market = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text(encoding="utf-8"))
    plugin = json.loads((ROOT / "skills" / ".claude-plugin" / "plugin.json").read_text(encoding="utf-8"))
    (entry,) = market["plugins"]
    assert entry["source"] == "./skills" and entry["name"] == plugin["name"] == "controlroom"
    assert market["metadata"]["version"] == plugin["version"] == entry["version"]
