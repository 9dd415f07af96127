"""`controlroom spec validate` prints PATH:LINE: messages and exits 1 on errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workflows.spec.cli import app

EXAMPLE = Path(__file__).parents[3] / "skills" / "examples" / "fl-workflow" / "SPEC.md"


def _run(args: list[str]) -> int:
    return app(args, result_action="return_value")


def test_a_valid_spec_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["validate", str(EXAMPLE)]) == 0
    assert "valid (0 error(s), 0 warning(s))" in capsys.readouterr().out


def test_errors_print_path_and_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "| C2 | a round's aggregate", "| C9 | a round's aggregate"
    )
    spec = tmp_path / "SPEC.md"
    spec.write_text(text, encoding="utf-8")
    line = text.split("\n").index(next(l for l in text.split("\n") if l.startswith("| C9 |"))) + 1
    assert _run(["validate", str(spec)]) == 1
    out = capsys.readouterr().out
    assert f"{spec}:{line}: error: Constraints: row 2 has id 'C9', expected 'C2'" in out


def test_a_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["validate", str(tmp_path / "nope.md")]) == 1
    assert "cannot read the file" in capsys.readouterr().err


def test_the_root_cli_runs_the_spec_group(tmp_path: Path) -> None:
    spec = tmp_path / "SPEC.md"
    spec.write_text("# SPEC: broken\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", "from mcp_gateway.cli import main; main()", "spec", "validate", str(spec)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert f"{spec}:2: error: missing section(s) ## Goal" in done.stdout
