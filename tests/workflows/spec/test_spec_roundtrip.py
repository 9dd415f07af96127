"""Model -> SPEC.md -> model is the identity, and rendering is deterministic."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.workflows.spec.spec_strategies import specs

from workflows.spec.model import Spec
from workflows.spec.parse import read_spec
from workflows.spec.render import render_spec
from workflows.spec.validate import validate_text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_round_trip_reproduces_the_spec(spec: Spec) -> None:
    text = render_spec(spec)
    parsed = read_spec(text)
    assert parsed.spec == spec
    assert parsed.warnings == []
    assert render_spec(parsed.spec) == text


@settings(max_examples=30, deadline=None)
@given(specs())
def test_each_row_is_located_on_its_own_line(spec: Spec) -> None:
    text = render_spec(spec)
    lines = text.split("\n")
    where = read_spec(text).lines
    for index, stage in enumerate(spec.stages):
        line = lines[where.row("stages", index) - 1]
        assert line.startswith("| ") and line.count("|") >= 10
    assert lines[where.section("stages") - 1] == "## Stages"


@settings(max_examples=60, deadline=None)
@given(specs())
def test_checking_any_schema_valid_spec_reports_instead_of_raising(spec: Spec) -> None:
    problems = validate_text(render_spec(spec))
    assert all(problem.line is not None and problem.line >= 1 for problem in problems)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["# SPEC: x", "## Goal", "## Stages", "| id | kind |", "| --- | --- |",
                                 "| a | task |", "text", "", "| a \\| b |", "## Phases"]), max_size=12))
def test_arbitrary_markdown_gives_problems_not_tracebacks(lines: list[str]) -> None:
    problems = validate_text("\n".join(lines))
    assert problems, "an incomplete spec always has a problem"
