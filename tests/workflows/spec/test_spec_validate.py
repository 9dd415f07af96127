"""The validator's rules, each placed on the SPEC.md line of the offending row."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.spec.criteria import ExpressionError, check_expression, evaluate_expression
from workflows.spec.errors import SpecInvalidError, SpecSyntaxError
from workflows.spec.model import Constraint, Criterion, Decision, Input, Parameter, Spec, Stage
from workflows.spec.parse import read_spec
from workflows.spec.render import render_spec
from workflows.spec.validate import check_spec, require_valid, validate_report, validate_text

EXAMPLES = Path(__file__).parents[3] / "skills" / "examples"


def _base() -> Spec:
    return Spec(
        name="demo",
        goal="Exercise the validator.",
        inputs=[Input(name="data", format="csv")],
        parameters=[Parameter(name="K", type="int", default=3, min=1, max=8)],
        stages=[
            Stage(id="a", inputs=["data"], command="echo a"),
            Stage(id="b", depends_on=["a"], count="K", command="echo b"),
            Stage(id="c", depends_on=["b"], callable="pkg.mod:run"),
        ],
        constraints=[Constraint(id="C1", text="fast", check="bench")],
        criteria=[Criterion(id="V1", criterion="done", how="status", automatic=True,
                            expression='status == "completed"')],
        decisions=[Decision(id="D1", question="bus?", options=["embedded", "stomp"], choice="embedded")],
    )


def _errors(spec: Spec) -> tuple[list[tuple[int | None, str, str]], list[str]]:
    text = render_spec(spec)
    problems = validate_text(text)
    lines = text.split("\n")
    found = [(p.line, p.code, p.message) for p in problems if p.severity == "error"]
    return found, [lines[p.line - 1] for p in problems if p.severity == "error" and p.line]


@pytest.mark.parametrize("name", ["fl-workflow", "epic-fast-processing"])
def test_the_example_specs_are_valid_and_canonical(name: str) -> None:
    text = (EXAMPLES / name / "SPEC.md").read_text(encoding="utf-8")
    assert validate_text(text) == []
    assert render_spec(require_valid(text)) == text


def test_a_valid_spec_has_no_problems() -> None:
    assert validate_text(render_spec(_base())) == []


def test_a_cycle_is_named_and_placed_on_a_stage_in_it() -> None:
    spec = _base()
    spec.stages[0].depends_on = ["c"]
    found, lines = _errors(spec)
    assert [code for _, code, _ in found] == ["stage-cycle"]
    assert "stages form a cycle: a -> b -> c -> a" in found[0][2]
    assert lines[0].startswith("| a |")


def test_missing_references_name_the_row() -> None:
    spec = _base()
    spec.stages[1].depends_on = ["nope"]
    spec.stages[2].inputs = ["ghost"]
    spec.stages[2].repeat = "T"
    found, lines = _errors(spec)
    assert {code for _, code, _ in found} == {"unknown-stage", "unknown-input", "unknown-parameter"}
    assert any("'nope'" in message for _, _, message in found)
    assert lines[0].startswith("| b |") and lines[1].startswith("| c |")


def test_constraint_without_check_and_gapped_ids() -> None:
    spec = _base()
    spec.constraints.append(Constraint(id="C3", text="no check here"))
    found, lines = _errors(spec)
    assert {code for _, code, _ in found} == {"constraint-check", "id-sequence"}
    assert all(line.startswith("| C3 |") for line in lines)
    assert any("expected 'C2'" in message for _, _, message in found)


def test_duplicate_ids_are_errors() -> None:
    spec = _base()
    spec.stages.append(Stage(id="a", command="x"))
    spec.criteria.append(spec.criteria[0].model_copy())
    codes = {code for _, code, _ in _errors(spec)[0]}
    assert codes == {"duplicate-stage", "duplicate-id"}


@pytest.mark.parametrize(
    ("param", "needle"),
    [
        (Parameter(name="K", type="int", default=9, min=1, max=8), "above max"),
        (Parameter(name="K", type="int", default=0, min=1), "below min"),
        (Parameter(name="K", type="int", default=2.5), "is float, not int"),
        (Parameter(name="K", type="int", default=True), "is bool, not int"),
        (Parameter(name="K", type="int", min=5, max=1), "greater than max"),
        (Parameter(name="K", type="str", default="x", min=1), "min and max apply"),
    ],
)
def test_parameter_defaults_are_typed_and_in_range(param: Parameter, needle: str) -> None:
    spec = _base()
    spec.parameters = [param]
    found, lines = _errors(spec)
    assert any(needle in message for _, _, message in found), found
    assert lines[0].startswith("| K |")


def test_count_must_name_an_int_parameter() -> None:
    spec = _base()
    spec.parameters.append(Parameter(name="F", type="float", default=1.0))
    spec.stages[0].count = "F"
    assert [code for _, code, _ in _errors(spec)[0]] == ["parameter-type"]


def test_a_stage_needs_exactly_one_payload() -> None:
    spec = _base()
    spec.stages[0].callable = "pkg:f"
    spec.stages[1].command = ""
    spec.stages[2].callable = "not a callable"
    found = _errors(spec)[0]
    assert sorted(code for _, code, _ in found) == ["stage-callable", "stage-payload", "stage-payload"]
    assert "has both" in found[0][2] and "has neither" in found[1][2]


def test_automatic_criteria_need_a_safe_expression() -> None:
    spec = _base()
    spec.criteria[0].expression = "__import__('os').system('true')"
    found = _errors(spec)[0]
    assert [code for _, code, _ in found] == ["criterion-expression"]
    spec.criteria[0].expression = "stage_runs['b'] == K and unknown_name"
    assert "unknown name 'unknown_name'" in _errors(spec)[0][0][2]


def test_a_choice_outside_the_options_is_an_error_and_an_open_one_a_warning() -> None:
    spec = _base()
    spec.decisions[0].choice = "kafka"
    assert [code for _, code, _ in _errors(spec)[0]] == ["decision-choice"]
    spec.decisions[0].choice = ""
    problems = validate_text(render_spec(spec))
    assert [(p.severity, p.code) for p in problems] == [("warning", "open-decision")]


def test_syntax_errors_carry_line_numbers() -> None:
    lines = render_spec(_base()).split("\n")
    stages_row = next(i for i, line in enumerate(lines) if line.startswith("| b |"))
    lines[stages_row] = "| b | task | a |"  # too few cells
    header = lines.index("## Constraints") + 2
    lines[header] = "| id | rule | check |"
    problems = validate_text("\n".join(lines))
    assert [(p.line, p.code) for p in problems] == [(stages_row + 1, "row-width"), (header + 1, "table-header")]
    with pytest.raises(SpecSyntaxError) as caught:
        read_spec("\n".join(lines))
    assert len(caught.value.problems) == 2


def test_bad_cell_names_the_column() -> None:
    text = render_spec(_base()).replace("| b | task |", "| b | daemon |")
    (problem,) = validate_text(text)
    assert problem.code == "bad-cell" and "'kind'" in problem.message
    assert text.split("\n")[problem.line - 1].startswith("| b | daemon |")


def test_unknown_sections_warn_and_missing_ones_fail() -> None:
    text = render_spec(_base()) + "\n## Fixes log\n\nnothing yet\n"
    assert [p.code for p in validate_text(text)] == ["unknown-section"]
    text = text.replace("## Phases", "## Phasing")
    assert "missing-section" in [p.code for p in validate_text(text)]


def test_require_valid_raises_with_all_rule_errors() -> None:
    spec = _base()
    spec.constraints[0].check = ""
    with pytest.raises(SpecInvalidError) as caught:
        require_valid(render_spec(spec))
    assert [p.code for p in caught.value.problems] == ["constraint-check"]


def test_check_spec_works_on_a_model_without_text() -> None:
    spec = _base()
    spec.stages[0].depends_on = ["a"]
    (problem,) = check_spec(spec)
    assert problem.line is None and problem.code == "stage-cycle"


def test_expressions_evaluate_over_results_and_parameters() -> None:
    variables = {"status": "completed", "stage_runs": {"train": 12}, "K": 4, "T": 3, "metrics": {"acc": 0.9}}
    assert evaluate_expression('status == "completed" and stage_runs["train"] == K * T', variables)
    assert not evaluate_expression('metrics["acc"] >= 0.95', variables)
    with pytest.raises(ExpressionError):
        check_expression("(lambda: 1)()", [])
    with pytest.raises(ExpressionError):
        check_expression("status.__class__", [])


def test_the_report_summarises_for_an_mcp_tool() -> None:
    spec = _base()
    spec.decisions[0].choice = ""
    report = validate_report(render_spec(spec))
    assert (report.valid, report.name, report.errors, report.warnings) == (True, "demo", 0, 1)
    spec.constraints[0].check = ""
    report = validate_report(render_spec(spec))
    assert not report.valid and report.errors == 1
    assert report.model_dump(mode="json")["problems"][1]["code"] == "open-decision"


def test_the_epic_example_names_agent_classes_that_exist() -> None:
    import importlib

    spec = require_valid((EXAMPLES / "epic-fast-processing" / "SPEC.md").read_text(encoding="utf-8"))
    for stage in spec.stages:
        module, _, name = stage.callable.partition(":")
        assert isinstance(getattr(importlib.import_module(module), name), type), stage.callable
