"""Failure injection suite: every catalog class injected into a live `controlroom up`, diagnosed by
rules alone, and the AUTO fixes applied and verified. The table goes to a file and to stdout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agents.testbed.chaos import KINDS, SuiteRow, render_table, run_suite

AUTO_FIXED = {"agent_crashed", "slice_backlog", "stuck_execution"}  # fixes the default policy runs by itself
PROCESS_MODE = ("broker_unreachable", "stuck_execution")


def _check(rows: list[SuiteRow], table_file: Path) -> None:
    table = render_table(rows)
    table_file.write_text(table + "\n")
    sys.__stdout__.write(f"\n{table}\n")  # shown with or without -s
    for row in rows:
        assert row.error == "", f"{row.kind}: {row.error}"
        assert (row.diagnosed, row.diagnosed_by) == (row.kind, "rules"), table
        assert row.seconds_to_diagnosis is not None
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
    assert asked == {"invalid_parameter": "ASK", "disk_full": "ASK"}  # rerun_with_parameter and free_space wait for a human


@pytest.mark.activemq
async def test_process_mode_classes(tmp_path: Path, stomp_address: tuple[str, int]) -> None:
    rows = await run_suite(tmp_path / "live", kinds=PROCESS_MODE, broker=stomp_address)
    _check(rows, tmp_path / "chaos-table.txt")
    assert all(r.how == "real" for r in rows)
