"""Read SPEC.md text back into a :class:`~workflows.spec.model.Spec`, remembering line numbers.

:func:`read_spec` collects every problem it can find in one pass (a missing section, a table
header that does not match, a cell of the wrong type) and raises them together as
:class:`~workflows.spec.errors.SpecSyntaxError`; each problem names its SPEC.md line. On success
it returns the spec with a :class:`SpecLines` map that the validator uses to place its findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from workflows.spec.cells import CellError, decode, is_row, is_separator, row_cells
from workflows.spec.errors import SpecSyntaxError
from workflows.spec.layout import FORMAT_LINE, GOAL_HEADING, SECTION_ORDER, TABLES, TITLE_PREFIX, TableSection
from workflows.spec.model import Spec
from workflows.spec.problems import Problem


@dataclass
class SpecLines:
    """1-based SPEC.md line numbers of the title, each section heading and each table row."""

    title: int | None = None
    sections: dict[str, int] = field(default_factory=dict)  # spec field (or "goal") -> heading line
    rows: dict[str, list[int]] = field(default_factory=dict)  # spec field -> line of each row
    end: int | None = None

    def section(self, name: str) -> int | None:
        """Line of the heading of the section filling spec field ``name``."""
        return self.sections.get(name, self.end)

    def row(self, name: str, index: int) -> int | None:
        """Line of row ``index`` (0-based) of the table filling spec field ``name``."""
        lines = self.rows.get(name, [])
        return lines[index] if index < len(lines) else self.section(name)


@dataclass
class ParsedSpec:
    """A spec read from text, where its parts are, and the warnings met on the way."""

    spec: Spec
    lines: SpecLines
    warnings: list[Problem]


_FIELD_OF_HEADING = {GOAL_HEADING.lower(): "goal", **{t.heading.lower(): t.field for t in TABLES}}
_TABLE_OF_FIELD = {t.field: t for t in TABLES}


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines = text.replace("\r\n", "\n").split("\n")
        self.problems: list[Problem] = []
        self.where = SpecLines(end=max(len(self.lines), 1))

    def error(self, line: int | None, code: str, message: str) -> None:
        self.problems.append(Problem(line=line, severity="error", code=code, message=message))

    def warn(self, line: int | None, code: str, message: str) -> None:
        self.problems.append(Problem(line=line, severity="warning", code=code, message=message))

    def read(self) -> dict[str, object]:
        data: dict[str, object] = {}
        bodies: dict[str, tuple[int, list[str]]] = {}
        current: str | None = None
        for number, line in enumerate(self.lines, start=1):
            if line.startswith("## "):
                heading = line[3:].strip()
                current = _FIELD_OF_HEADING.get(heading.lower())
                if current is None:
                    self.warn(number, "unknown-section",
                              f"section '## {heading}' is not part of the SPEC.md format and is ignored; "
                              f"the sections are: {', '.join(SECTION_ORDER)}")
                    current = "_ignored"
                    continue
                if current in bodies:
                    self.error(number, "duplicate-section",
                               f"section '## {heading}' appears twice (first at line "
                               f"{self.where.sections[current]}); merge them")
                    current = "_ignored"
                    continue
                self.where.sections[current] = number
                bodies[current] = (number, [])
            elif current is None:
                self._preamble(number, line, data)
            elif current != "_ignored":
                bodies[current][1].append(line)
        if self.where.title is None:
            self.error(1, "missing-title", f"the first line must be '{TITLE_PREFIX}<workflow name>'")
        missing = [heading for heading in SECTION_ORDER if _FIELD_OF_HEADING[heading.lower()] not in bodies]
        if missing:
            self.error(self.where.end, "missing-section",
                       f"missing section(s) {', '.join('## ' + h for h in missing)}; every SPEC.md has the "
                       f"sections {', '.join(SECTION_ORDER)} in this order (an empty table is fine)")
        if "goal" in bodies:
            data["goal"] = "\n".join(bodies["goal"][1]).strip()
        for name, table in _TABLE_OF_FIELD.items():
            if name in bodies:
                start, body = bodies[name]
                data[name] = self._table(table, start, body)
        return data

    def _preamble(self, number: int, line: str, data: dict[str, object]) -> None:
        if not line.strip() or line.strip() == FORMAT_LINE:
            return
        if self.where.title is None and line.startswith(TITLE_PREFIX.rstrip()):
            self.where.title = number
            data["name"] = line[len(TITLE_PREFIX):].strip()
            return
        if line.startswith("<!-- format:"):
            self.warn(number, "format-version", f"unknown format line {line.strip()!r}; expected {FORMAT_LINE!r}")
            return
        if self.where.title is None:
            self.error(number, "missing-title", f"the first line must be '{TITLE_PREFIX}<workflow name>'")
            self.where.title = number
            return
        self.warn(number, "ignored-text", "text before the first section is ignored; move it under '## Goal'")

    def _table(self, table: TableSection, start: int, body: list[str]) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        row_lines: list[int] = []
        self.where.rows[table.field] = row_lines
        state = "before"  # before -> header -> rows -> after (or "bad" after a wrong header)
        expected = " | ".join(table.headers)
        for offset, line in enumerate(body, start=1):
            number = start + offset
            if not is_row(line):
                if line.strip() and state != "after":
                    self.warn(number, "ignored-text",
                              f"text in '## {table.heading}' outside its table is ignored")
                if state in ("rows", "bad") and not line.strip():
                    state = "after"
                continue
            if state == "bad":  # the rest of a table whose header was wrong: already reported
                continue
            if state == "before":
                headers = [cell.lower() for cell in row_cells(line)]
                if headers != [h.lower() for h in table.headers]:
                    self.error(number, "table-header",
                               f"the {table.heading} table must have the columns | {expected} |")
                    state = "bad"
                    continue
                state = "header"
            elif state == "header":
                if not is_separator(line):
                    self.error(number, "table-separator",
                               f"the line under the {table.heading} header must be | --- | ... |")
                state = "rows"
            elif state == "after":
                self.error(number, "second-table",
                           f"'## {table.heading}' holds one table; join the rows into the first one")
            else:
                row = self._row(table, number, line)
                if row is not None:
                    rows.append(row)
                    row_lines.append(number)
        if state == "before":
            self.error(start, "missing-table",
                       f"'## {table.heading}' needs a table with the columns | {expected} | (it may have no rows)")
        return rows

    def _row(self, table: TableSection, number: int, line: str) -> dict[str, object] | None:
        cells = row_cells(line)
        if len(cells) != len(table.columns):
            self.error(number, "row-width",
                       f"this {table.heading} row has {len(cells)} cells, the table has "
                       f"{len(table.columns)} columns (| {' | '.join(table.headers)} |)")
            return None
        values: dict[str, object] = {}
        ok = True
        for column, raw in zip(table.columns, cells, strict=True):
            try:
                values[column.field] = decode(raw, column.codec)
            except CellError as exc:
                self.error(number, "bad-cell", f"{table.heading} column '{column.header}': {exc}")
                ok = False
        if not ok:
            return None
        try:
            return table.row.model_validate(values).model_dump()
        except ValidationError as exc:
            self._report(exc, table.row, number, table.heading, {c.field: c.header for c in table.columns})
            return None

    def _report(self, exc: ValidationError, model: type[BaseModel], number: int | None,
                what: str, headers: dict[str, str]) -> None:
        for issue in exc.errors():
            name = str(issue["loc"][0]) if issue["loc"] else ""
            column = headers.get(name, name)
            self.error(number, "bad-cell", f"{what} column '{column}': {issue['msg']} (got {issue.get('input')!r})")


def read_spec(text: str) -> ParsedSpec:
    """Parse SPEC.md text; raise :class:`SpecSyntaxError` with every error found, each with its line.

    Example::

        >>> from workflows.spec.render import render_spec
        >>> from workflows.spec.model import Spec, Stage
        >>> spec = Spec(name="hello", goal="Say hello.", stages=[Stage(id="greet")])
        >>> read_spec(render_spec(spec)).spec == spec
        True
    """
    reader = _Reader(text)
    data = reader.read()
    spec: Spec | None = None
    if not any(problem.severity == "error" for problem in reader.problems):
        try:
            spec = Spec.model_validate(data)
        except ValidationError as exc:
            for issue in exc.errors():
                name = str(issue["loc"][0]) if issue["loc"] else ""
                line = reader.where.title if name == "name" else reader.where.section(name)
                what = "the title" if name == "name" else f"section '{name}'"
                reader.error(line, "bad-spec", f"{what}: {issue['msg']}")
    errors = [problem for problem in reader.problems if problem.severity == "error"]
    if errors or spec is None:
        raise SpecSyntaxError(sorted(reader.problems, key=_order))
    warnings = [problem for problem in reader.problems if problem.severity == "warning"]
    return ParsedSpec(spec=spec, lines=reader.where, warnings=warnings)


def parse_spec(text: str) -> Spec:
    """Parse SPEC.md text into a :class:`Spec` (see :func:`read_spec`)."""
    return read_spec(text).spec


def _order(problem: Problem) -> tuple[int, str]:
    return (problem.line or 0, problem.code)
