"""`controlroom workflow run/list/show` as a user runs them (a subprocess, a temporary state dir)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _controlroom(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from mcp_gateway.cli import main; main()", "workflow", *args, "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=110,
    )


def test_workflow_run_list_show(tmp_path: Path) -> None:
    done = _controlroom("run", "stf_datataking", "--config", "fast_processing_default", "--stf-count", "3",
                        "--param", "target_worker_count=3", "--param", "slices_per_sample=5", state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stdout
    assert "STFs        3   TF samples 3" in done.stdout
    assert "slices      done 15  failed 0" in done.stdout
    execution_id = next(w for w in done.stdout.split() if w.startswith("stf_datataking-"))

    listed = _controlroom("list", state_dir=tmp_path)
    assert listed.returncode == 0 and "completed" in listed.stdout and "1 of 1" in listed.stdout

    shown = _controlroom("show", execution_id, state_dir=tmp_path)
    assert shown.returncode == 0, shown.stderr
    monitor = json.loads(shown.stdout)
    assert monitor["status"] == "completed" and monitor["run_status"] == "ended"
    assert monitor["slices"]["done"] == 15 and monitor["tf_samples"] == 3


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, field in (
        (("run", "--stf-count", "-1"), "stf_count"),
        (("run", "--param", "no_such=1"), "no_such"),
        (("run", "--param", "novalue"), "key=value"),
        (("run", "--config", "missing_config"), "missing_config"),
    ):
        result = _controlroom(*args, state_dir=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and field in lines[0], result.stderr
        assert "Traceback" not in result.stderr
