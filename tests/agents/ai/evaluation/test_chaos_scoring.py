"""Scoring the debugger's answers, without live systems: what counts as a wrong action, what the
totals count, and a case whose live system cannot start is reported skipped, not scored."""

from __future__ import annotations

from pathlib import Path

from agents.ai.evaluation.chaos import SuiteRow, render_scored, run_extended, score


def _row(kind: str, diagnosed: str, verdict: str | None, outcome: str) -> SuiteRow:
    return SuiteRow(kind, "real", diagnosed, "rules", outcome, verdict, 0.1, None, cites=["log#1"])  # type: ignore[arg-type]


def test_an_auto_fix_is_wrong_only_where_the_right_answer_allows_none() -> None:
    allowed, operator, failed = score([
        _row("slice_backlog", "slice_backlog", "AUTO", "fixed"),  # AUTO allowed for a backlog
        _row("operator_scale_down", "slice_backlog", "AUTO", "fixed"),  # a principal scaled down: no AUTO fix
        _row("invalid_parameter", "invalid_parameter", "ASK", "fix_failed"),  # a failed fix is always wrong
    ])
    assert (allowed.wrong_action, operator.wrong_action, failed.wrong_action) == (False, True, True)
    assert (allowed.top1, operator.top1) == (True, True)
    table = render_scored([allowed, operator, failed])
    assert "top-1 diagnosis accuracy: 3/3; diagnoses citing evidence: 3/3; wrong actions: 2" in table


async def test_a_case_without_its_broker_is_skipped_and_not_counted(tmp_path: Path) -> None:
    [scored] = await run_extended(tmp_path, kinds=("broker_drop_once",), broker=None)
    assert (scored.row.kind, scored.row.outcome, scored.expected) == ("broker_drop_once", "skipped", "broker_reconnected")
    assert "needs a STOMP broker" in scored.row.diagnosed
    assert not scored.wrong_action
    assert "top-1 diagnosis accuracy: 0/0" in render_scored([scored])
    assert not any(tmp_path.iterdir())  # no live system was started for it
