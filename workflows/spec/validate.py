"""Check a spec beyond its schema, each finding placed on its SPEC.md line.

Rules: the goal is stated; names and ids are unique; ids of constraints, non-constraints,
outcomes, criteria, decisions and phases run C1, C2, ... with no gap; stages depend only on
stages that exist and form no cycle (the cycle is named); stages read only declared inputs;
fan-out ``count`` and ``repeat`` name ``int`` parameters; each stage has exactly one payload;
parameters carry defaults of their type inside their range; every constraint says how it is
checked; every criterion says how it is checked and automatic ones carry a valid expression;
a decision's choice is one of its options.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from workflows.spec.criteria import ExpressionError, check_expression
from workflows.spec.errors import SpecInvalidError, SpecSyntaxError
from workflows.spec.layout import TABLES
from workflows.spec.model import Parameter, Spec, Stage
from workflows.spec.parse import SpecLines, read_spec
from workflows.spec.problems import Problem

_CALLABLE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_PY_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


class _Checker:
    def __init__(self, spec: Spec, lines: SpecLines | None) -> None:
        self.spec = spec
        self.lines = lines or SpecLines()
        self.problems: list[Problem] = []

    def row(self, field: str, index: int) -> int | None:
        return self.lines.row(field, index) if self.lines.rows else None

    def add(self, line: int | None, code: str, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(line=line, severity=severity, code=code, message=message))  # type: ignore[arg-type]

    def run(self) -> list[Problem]:
        if not self.spec.goal.strip():
            self.add(self.lines.sections.get("goal"), "empty-goal",
                     "the Goal section is empty; state in a sentence or two what the workflow is for")
        self.ids()
        self.parameters()
        self.inputs()
        self.stages()
        self.constraints()
        self.criteria()
        self.decisions()
        self.deliverables()
        return sorted(self.problems, key=lambda p: (p.line or 0, p.code))

    def ids(self) -> None:
        for table in TABLES:
            if table.id_prefix is None:
                continue
            seen: dict[str, int] = {}
            for index, row in enumerate(getattr(self.spec, table.field)):
                expected = f"{table.id_prefix}{index + 1}"
                line = self.row(table.field, index)
                if row.id in seen:
                    self.add(line, "duplicate-id", f"{table.heading}: id {row.id} is used twice (rows {seen[row.id] + 1} "
                             f"and {index + 1}); number them {table.id_prefix}1, {table.id_prefix}2, ... in order")
                elif row.id != expected:
                    self.add(line, "id-sequence", f"{table.heading}: row {index + 1} has id {row.id!r}, expected "
                             f"{expected!r}; ids run {table.id_prefix}1, {table.id_prefix}2, ... with no gap")
                seen.setdefault(row.id, index)

    def _unique(self, field: str, what: str, keys: Sequence[str]) -> None:
        seen: dict[str, int] = {}
        for index, key in enumerate(keys):
            if key in seen:
                self.add(self.row(field, index), f"duplicate-{what}",
                         f"{what} {key!r} is declared twice (first in row {seen[key] + 1}); rename or remove one")
            seen.setdefault(key, index)

    def parameters(self) -> None:
        params = self.spec.parameters
        self._unique("parameters", "parameter", [p.name for p in params])
        for index, param in enumerate(params):
            line = self.row("parameters", index)
            for message in _parameter_problems(param):
                self.add(line, "parameter", f"parameter {param.name}: {message}")

    def inputs(self) -> None:
        self._unique("inputs", "input", [i.name for i in self.spec.inputs])

    def stages(self) -> None:
        stages = self.spec.stages
        self._unique("stages", "stage", [s.id for s in stages])
        ids = {s.id for s in stages}
        inputs = {i.name for i in self.spec.inputs}
        params = {p.name: p for p in self.spec.parameters}
        for index, stage in enumerate(stages):
            line = self.row("stages", index)
            for dep in stage.depends_on:
                if dep == stage.id:
                    self.add(line, "stage-cycle", f"stage {stage.id} depends on itself")
                elif dep not in ids:
                    self.add(line, "unknown-stage", f"stage {stage.id} depends on {dep!r}, which is not a stage; "
                             f"stages are: {', '.join(sorted(ids))}")
            for name in stage.inputs:
                if name not in inputs:
                    self.add(line, "unknown-input", f"stage {stage.id} reads input {name!r}, which is not declared "
                             "in the Inputs table; add it there or fix the name")
            for column in ("count", "repeat"):
                self._size(line, stage, column, params)
            self._payload(line, stage)
        self._cycles(stages)

    def _size(self, line: int | None, stage: Stage, column: str, params: dict[str, Parameter]) -> None:
        value = getattr(stage, column)
        if isinstance(value, int):
            return
        param = params.get(value)
        if param is None:
            self.add(line, "unknown-parameter", f"stage {stage.id} {column} {value!r} is neither a positive "
                     "integer nor a parameter; declare it in the Parameters table")
        elif param.type != "int":
            self.add(line, "parameter-type", f"stage {stage.id} {column} uses parameter {value}, which is "
                     f"{param.type}; a {column} needs an int parameter")

    def _payload(self, line: int | None, stage: Stage) -> None:
        if bool(stage.command) == bool(stage.callable):
            self.add(line, "stage-payload", f"stage {stage.id} needs exactly one of command or callable "
                     f"(it has {'both' if stage.command else 'neither'})")
        if stage.callable and not _CALLABLE.match(stage.callable):
            self.add(line, "stage-callable", f"stage {stage.id} callable {stage.callable!r} must look like "
                     "package.module:function")

    def _cycles(self, stages: list[Stage]) -> None:
        graph = {s.id: [d for d in s.depends_on if d != s.id] for s in stages}
        index_of = {s.id: i for i, s in enumerate(stages)}
        state: dict[str, int] = {}  # 1 visiting, 2 done
        reported: set[frozenset[str]] = set()

        def visit(node: str, path: list[str]) -> None:
            state[node] = 1
            path.append(node)
            for dep in graph.get(node, []):
                if dep not in graph:
                    continue
                if state.get(dep) == 1:
                    cycle = path[path.index(dep):] + [dep]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        chain = " -> ".join(reversed(cycle))
                        self.add(self.row("stages", index_of[dep]), "stage-cycle",
                                 f"stages form a cycle: {chain}; remove one of these dependencies")
                elif dep not in state:
                    visit(dep, path)
            path.pop()
            state[node] = 2

        for stage in stages:
            if stage.id not in state:
                visit(stage.id, [])

    def constraints(self) -> None:
        for index, constraint in enumerate(self.spec.constraints):
            line = self.row("constraints", index)
            if not constraint.text:
                self.add(line, "empty-constraint", f"constraint {constraint.id} has no text")
            if not constraint.check:
                self.add(line, "constraint-check", f"constraint {constraint.id} has no check; say how it is "
                         "checked (a test, a validator rule, a query)")

    def criteria(self) -> None:
        names = [p.name for p in self.spec.parameters]
        for index, criterion in enumerate(self.spec.criteria):
            line = self.row("criteria", index)
            if not criterion.how:
                self.add(line, "criterion-how", f"criterion {criterion.id} does not say how it is checked; fill "
                         "'how to check'")
            if criterion.automatic and not criterion.expression:
                self.add(line, "criterion-expression", f"criterion {criterion.id} is automatic but has no "
                         "expression; write one (e.g. status == \"completed\") or set automatic to no")
            if criterion.expression:
                try:
                    check_expression(criterion.expression, names)
                except ExpressionError as exc:
                    self.add(line, "criterion-expression", f"criterion {criterion.id} expression: {exc}")
                if not criterion.automatic:
                    self.add(line, "criterion-expression", f"criterion {criterion.id} has an expression but is "
                             "not automatic; set automatic to yes to have it checked", "warning")

    def decisions(self) -> None:
        for index, decision in enumerate(self.spec.decisions):
            line = self.row("decisions", index)
            if not decision.choice:
                self.add(line, "open-decision", f"decision {decision.id} is still open (no choice)", "warning")
            elif decision.options and decision.choice not in decision.options:
                self.add(line, "decision-choice", f"decision {decision.id} chose {decision.choice!r}, which is not "
                         f"one of its options ({', '.join(decision.options)})")

    def deliverables(self) -> None:
        self._unique("deliverables", "deliverable", [d.path for d in self.spec.deliverables])


def _parameter_problems(param: Parameter) -> list[str]:
    problems: list[str] = []
    numeric = param.type in ("int", "float")
    if not numeric and (param.min is not None or param.max is not None):
        problems.append(f"min and max apply to int and float parameters only, not {param.type}; clear them")
        return problems
    for label in ("min", "max"):
        bound = getattr(param, label)
        if param.type == "int" and isinstance(bound, float):
            problems.append(f"{label} {bound!r} is not an int")
    if param.min is not None and param.max is not None and param.min > param.max:
        problems.append(f"min {param.min!r} is greater than max {param.max!r}")
    default = param.default
    if default is None:
        return problems
    allowed = _PY_TYPES[param.type]
    if isinstance(default, bool) != (param.type == "bool") or not isinstance(default, allowed):
        hint = f'; quote it: "{default}"' if param.type == "str" else ""
        problems.append(f"default {default!r} is {type(default).__name__}, not {param.type}{hint}")
        return problems
    if numeric:
        if param.min is not None and default < param.min:  # type: ignore[operator]
            problems.append(f"default {default!r} is below min {param.min!r}")
        if param.max is not None and default > param.max:  # type: ignore[operator]
            problems.append(f"default {default!r} is above max {param.max!r}")
    return problems


def check_spec(spec: Spec, lines: SpecLines | None = None) -> list[Problem]:
    """Every rule broken by ``spec`` (errors and warnings), placed by ``lines`` when given."""
    return _Checker(spec, lines).run()


def validate_text(text: str) -> list[Problem]:
    """Parse and check SPEC.md text; every problem found (syntax first, then rules), by line.

    Example::

        >>> problems = validate_text("# SPEC: x\\n")
        >>> problems[0].code
        'missing-section'
    """
    try:
        parsed = read_spec(text)
    except SpecSyntaxError as exc:
        return exc.problems
    problems = parsed.warnings + check_spec(parsed.spec, parsed.lines)
    return sorted(problems, key=lambda p: (p.line or 0, p.code))


def require_valid(text: str) -> Spec:
    """Parse and check; return the spec, or raise the first kind of error met with all its problems."""
    parsed = read_spec(text)
    errors = [p for p in check_spec(parsed.spec, parsed.lines) if p.severity == "error"]
    if errors:
        raise SpecInvalidError(errors)
    return parsed.spec


class SpecReport(BaseModel):
    """The outcome of checking a SPEC.md, shaped for an MCP tool result (``spec_validate``).

    Example::

        >>> report = validate_report("# SPEC: x\\n")
        >>> (report.valid, report.errors)
        (False, 1)
    """

    valid: bool
    name: str | None
    errors: int
    warnings: int
    problems: list[Problem]


def validate_report(text: str) -> SpecReport:
    """Check SPEC.md text and summarise: valid when no problem is an error."""
    problems = validate_text(text)
    errors = sum(1 for p in problems if p.severity == "error")
    name = None
    for line in text.split("\n"):
        if line.startswith("# SPEC: "):
            name = line[len("# SPEC: "):].strip() or None
            break
    return SpecReport(valid=errors == 0, name=name, errors=errors, warnings=len(problems) - errors, problems=problems)
