"""The root CLI's ``spec generate`` dry-runs the workflow: the task runtime is installed in its process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "skills" / "examples" / "fl-workflow"


def test_spec_generate_from_the_root_cli_dry_runs_the_workflow(tmp_path: Path) -> None:
    spec = tmp_path / "SPEC.md"
    spec.write_text((EXAMPLE / "SPEC.md").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "fl_tasks.py").write_text((EXAMPLE / "fl_tasks.py").read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", "from mcp_gateway.cli import main; main()", "spec", "generate", str(spec),
         "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry run: completed" in done.stdout and "PASS V1" in done.stdout
