"""Failure injection suite: every catalog class injected into a live `controlroom up`, diagnosed by
rules alone, and the AUTO fixes applied and verified; then the cases beyond the catalog (operators'
actions, degraded runs), scored: top-1 accuracy, a citation for every diagnosis, no wrong action.
The tables go to a file and to stdout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agents.ai.evaluation.chaos import EXTRA_KINDS, KINDS, SuiteRow, render_scored, render_table, run_extended, run_suite, score

AUTO_FIXED = {"slice_backlog", "stuck_execution"}  # fixes the default policy runs by itself
# agent_crashed is injected by kill_agent: a principal's act, so the restart is only proposed (ASK)
PROCESS_MODE = ("broker_unreachable", "stuck_execution")


def _check(rows: list[SuiteRow], table_file: Path) -> None:
    table = render_table(rows)
    table_file.write_text(table + "\n")
    sys.__stdout__.write(f"\n{table}\n")  # shown with or without -s
    for row in rows:
        assert row.error == "", f"{row.kind}: {row.error}"
        assert (row.diagnosed, row.diagnosed_by) == (row.kind, "rules"), table
        assert row.seconds_to_diagnosis is not None
        assert row.cites, f"{row.kind}: the diagnosis cites no evidence"
        if row.kind in AUTO_FIXED:
            assert (row.verdict, row.outcome) == ("AUTO", "fixed"), table
            assert row.seconds_to_fix is not None
        else:
            assert row.outcome in ("reported", "awaiting_approval"), table


@pytest.mark.postgres
async def test_embedded_classes_and_database_unavailable(tmp_path: Path, postgres_url: str) -> None:
    kinds = tuple(k for k in KINDS if k not in PROCESS_MODE)
    rows = await run_suite(tmp_path / "live", kinds=kinds, broker=None, postgres_url=postgres_url)
    assert [r.kind for r in rows] == list(kinds)
    _check(rows, tmp_path / "chaos-table.txt")
    assert {r.kind for r in rows if r.how == "simulated"} == {"disk_full"}
    asked = {r.kind: r.verdict for r in rows if r.outcome == "awaiting_approval"}
    # rerun_with_parameter and free_space wait for a human; so does restarting an agent a principal killed
    assert asked == {"invalid_parameter": "ASK", "disk_full": "ASK", "agent_crashed": "ASK"}
    assert next(r for r in rows if r.kind == "agent_crashed").undoes.startswith("killed ")
    assert not any(s.wrong_action for s in score(rows))


@pytest.mark.activemq
async def test_process_mode_classes(tmp_path: Path, stomp_address: tuple[str, int]) -> None:
    rows = await run_suite(tmp_path / "live", kinds=PROCESS_MODE, broker=stomp_address)
    _check(rows, tmp_path / "chaos-table.txt")
    assert all(r.how == "real" for r in rows)


@pytest.mark.activemq
async def test_beyond_the_catalog_no_wrong_action(tmp_path: Path, stomp_address: tuple[str, int]) -> None:
    scored = await run_extended(tmp_path / "live", broker=stomp_address)
    table = render_scored(scored)
    (tmp_path / "beyond-table.txt").write_text(table + "\n")
    sys.__stdout__.write(f"\n{table}\n")
    assert [s.row.kind for s in scored] == list(EXTRA_KINDS)
    for s in scored:
        assert s.row.error == "", f"{s.row.kind}: {s.row.error}"
        assert s.top1, f"{table}\n{s.row.kind} rests on: {s.row.evidence}"
        assert s.cites, f"{s.row.kind}: no citation\n{table}"
        assert not s.wrong_action, table
    assert "wrong actions: 0" in table
