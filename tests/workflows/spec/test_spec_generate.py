"""`controlroom spec generate`: deterministic artifacts, the dry run, registration, the FL workflow end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from workflows.definitions import DefinitionRegistry
from workflows.errors import DefinitionError
from workflows.executor import WorkflowExecutor
from workflows.spec.cli import app
from workflows.spec.generate import generate_from_text, load_generated, register_generated

EXAMPLE = Path(__file__).resolve().parents[3] / "skills" / "examples" / "fl-workflow"
SPEC = EXAMPLE / "SPEC.md"
TEXT = SPEC.read_text(encoding="utf-8")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not {"__pycache__", "runs"} & set(p.relative_to(root).parts)}


def test_same_spec_same_bytes(tmp_path: Path) -> None:
    one = generate_from_text(TEXT, tmp_path / "one", source_dir=EXAMPLE, dry_run=False)
    two = generate_from_text(TEXT, tmp_path / "two", source_dir=EXAMPLE, dry_run=False)
    assert one.ok and two.ok
    first, second = _tree(tmp_path / "one"), _tree(tmp_path / "two")
    assert first == second
    assert sorted(first) == ["README.md", "agents.toml", "fl_tasks.py", "fl_workflow.py", "fl_workflow.toml"]
    assert b'includes = ["agents.toml"]' in first["fl_workflow.toml"]


def test_shipped_artifacts_are_current(tmp_path: Path) -> None:
    """skills/examples/fl-workflow/generated/ is exactly what the spec generates today."""
    generate_from_text(TEXT, tmp_path, source_dir=EXAMPLE, dry_run=False)
    assert _tree(tmp_path) == _tree(EXAMPLE / "generated")


def test_a_changed_spec_changes_the_version(tmp_path: Path) -> None:
    changed = TEXT.replace("| K | int | 4 |", "| K | int | 5 |")
    a = generate_from_text(TEXT, tmp_path / "a", source_dir=EXAMPLE, dry_run=False)
    b = generate_from_text(changed, tmp_path / "b", source_dir=EXAMPLE, dry_run=False)
    assert a.version != b.version and a.workflow == b.workflow == "fl_workflow"


def test_dry_run_passes_every_automatic_criterion_of_the_fl_example(tmp_path: Path) -> None:
    report = generate_from_text(TEXT, tmp_path, source_dir=EXAMPLE, workers=4)
    assert report.ok, report.lines()
    assert report.dry_run is not None and report.dry_run.status == "completed"
    assert report.dry_run.stage_runs == {"prepare": 1, "train": 12, "aggregate": 3, "evaluate": 3, "report": 1}
    results = {c.id: c.result for c in report.criteria}
    assert results == {"V1": "PASS", "V2": "PASS", "V3": "PASS", "V4": "MANUAL", "V5": "PASS", "V6": "PASS"}
    assert report.dry_run.metrics["final_accuracy"] >= 0.8
    assert not (tmp_path / "runs").exists()  # the dry run leaves the generated directory as generated


def test_cli_prints_pass_fail_and_exits_1_on_a_failed_criterion(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "fl_tasks.py").write_bytes((EXAMPLE / "fl_tasks.py").read_bytes())
    strict = TEXT.replace("| yes | duration_s <= 60 |", "| yes | duration_s < 0 |")
    (spec_dir / "SPEC.md").write_text(strict, encoding="utf-8")
    code = app(["generate", str(spec_dir / "SPEC.md"), "-o", str(tmp_path / "out")], result_action="return_value")
    out = capsys.readouterr().out
    assert code == 1
    assert "PASS V1: " in out and "FAIL V6: duration_s < 0" in out and "fl-workflow: FAILED" in out


def test_cli_reports_spec_errors_with_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "SPEC.md"
    bad.write_text(TEXT.replace("| report | task | evaluate |", "| report | task | nowhere |"), encoding="utf-8")
    code = app(["generate", str(bad), "-o", str(tmp_path / "out")], result_action="return_value")
    out = capsys.readouterr().out
    assert code == 1 and f"{bad}:" in out and "nowhere" in out
    assert not (tmp_path / "out").exists()


def test_missing_script_is_named(tmp_path: Path) -> None:
    report = generate_from_text(TEXT, tmp_path / "out", source_dir=tmp_path, dry_run=False)
    assert any(p.code == "generate-script" and "fl_tasks.py" in p.message for p in report.problems)


def test_register_generated_is_immutable(tmp_path: Path) -> None:
    generate_from_text(TEXT, tmp_path / "a", source_dir=EXAMPLE, dry_run=False)
    registry = DefinitionRegistry()
    info = register_generated(tmp_path / "a", registry)
    assert info.name == "fl_workflow" and info.version.startswith("spec.")
    assert set(info.parameter_schema()["properties"]) >= {"K", "T", "target_accuracy"}
    assert register_generated(tmp_path / "a", registry).source_hash == info.source_hash  # same source: accepted
    edited = tmp_path / "a" / "fl_workflow.py"
    edited.write_text(edited.read_text() + "# edited\n")
    with pytest.raises(DefinitionError, match="immutable"):
        register_generated(tmp_path / "a", registry)


def test_generated_fl_workflow_runs_end_to_end_through_the_executor(tmp_path: Path) -> None:
    """The registry entry runs under the SimPy executor (as the workflow runner runs it)."""
    generate_from_text(TEXT, tmp_path, source_dir=EXAMPLE, dry_run=False)
    module = load_generated(tmp_path)
    seen: list[dict[str, object]] = []
    executor = WorkflowExecutor(module.definition.function, emit=seen.append, execution_id="fl_workflow-bob-0001",
                                namespace="bob", mode="realtime", realtime_factor=1.0)
    outcome = asyncio.run(executor.run())
    assert outcome.status == "completed", outcome.error
    summary = next(m for m in seen if m["msg_type"] == "task_workflow_summary")
    assert summary["stage_runs"] == {"prepare": 1, "train": 12, "aggregate": 3, "evaluate": 3, "report": 1}
    assert summary["metrics"]["final_accuracy"] >= 0.8  # type: ignore[index]
    report = tmp_path / "runs" / "fl_workflow-bob-0001" / "report.md"
    rows = [line for line in report.read_text().splitlines() if line[:3] in ("| 0", "| 1", "| 2")]
    assert len(rows) == 3  # one row per round


def test_generated_workflow_failure_fails_the_execution(tmp_path: Path) -> None:
    broken = TEXT.replace("python fl_tasks.py aggregate", "python fl_tasks.py no-such-command")
    generate_from_text(broken, tmp_path, source_dir=EXAMPLE, dry_run=False)
    module = load_generated(tmp_path)
    executor = WorkflowExecutor(module.definition.function, emit=lambda body: None, execution_id="fl-x-1",
                                namespace="bob", mode="realtime")
    outcome = asyncio.run(executor.run())
    assert outcome.status == "failed"
    assert "aggregate.r0.i0 failed after 2 attempt(s)" in (outcome.error or "")
