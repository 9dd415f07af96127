"""The monitor's small parts on their own: form parsing, error placement, escaping in SVG, ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mcp_gateway.monitor import charts
from mcp_gateway.monitor.filters import age
from mcp_gateway.monitor.forms import definition_fields, fields, parse, place
from mcp_gateway.monitor.graph import lineage_svg

SCHEMA = {"properties": {
    "stf_count": {"type": "integer", "minimum": 0, "maximum": 100, "default": 10, "description": "STFs"},
    "stf_interval": {"type": "number", "exclusiveMinimum": 0, "default": 2.0},
    "realtime_factor": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
    "fast": {"type": "boolean", "default": False},
    "tags": {"type": "array", "items": {"type": "string"}},
}}


def test_parameters_are_parsed_by_their_schema_with_errors_naming_the_field() -> None:
    spec = fields(SCHEMA)
    assert [f.name for f in spec] == ["stf_count", "stf_interval", "realtime_factor", "fast"]  # no array input
    values, errors = parse(spec, {"p.stf_count": "12", "p.stf_interval": "0.5", "p.fast": "true", "p.realtime_factor": ""})
    assert values == {"stf_count": 12, "stf_interval": 0.5, "fast": True} and errors == {}
    _, errors = parse(spec, {"p.stf_count": "1.5", "p.stf_interval": "x", "p.fast": "yes"})
    assert errors == {"stf_count": "stf_count must be a whole number, not '1.5'",
                      "stf_interval": "stf_interval must be a number, not 'x'", "fast": "fast must be true or false"}
    _, errors = parse(spec, {"p.stf_count": "101"})
    assert errors == {"stf_count": "stf_count must be at most 100"}


def test_section_parameters_follow_the_workflows_own() -> None:
    definition = {"parameter_schema": SCHEMA, "section_schemas": {
        "fast_processing": {"properties": {"stf_count": {"type": "integer"}, "target_worker_count": {"type": "integer"}}}}}
    spec = definition_fields(definition)
    assert [(f.name, f.section) for f in spec][-1] == ("target_worker_count", "fast_processing")
    assert [f.name for f in spec].count("stf_count") == 1


def test_a_node_error_lands_beside_the_field_it_names() -> None:
    names = ["namespace", "config", "stf_count", "stf_count_max"]
    assert place("parameters.stf_count: Input should be greater than or equal to 0", names) == "stf_count"
    assert place("stf_count_max too small", names) == "stf_count_max"
    assert place("the testbed is not running; call start_testbed first", names) is None


def test_labels_in_svg_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    for svg in (charts.phase_band([(evil, 0.0, 1.0)], 1.0), charts.bars([(evil, 1.0)]),
                charts.line([(0.0, 1.0)], evil), charts.histogram([1.0, 2.0], evil), charts.columns([(0.0, 1)], evil),
                lineage_svg([{"rel": evil, "src": f"controlroom:run/{evil}", "dst": "controlroom:person/a"}],
                            "controlroom:person/a", lambda node: f"/ui/lineage?entity={node}")):
        assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_ages() -> None:
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert age(None) == "never"
    assert age((now - timedelta(seconds=3.25)).isoformat(), now) == "3.2 s ago"
    assert age((now - timedelta(minutes=30)).isoformat(), now) == "30 min ago"
    assert age("2026-11-30T06:00:00", now) == "3.0 h ago"  # naive times are UTC
