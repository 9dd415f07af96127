"""Model -> SPEC.md -> model is the identity, and rendering is deterministic."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from spec_strategies import specs

from workflows.spec.model import Spec
from workflows.spec.parse import read_spec
from workflows.spec.render import render_spec


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
