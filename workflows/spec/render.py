"""Render a :class:`~workflows.spec.model.Spec` as SPEC.md: stable headings, one table per part.

The output is deterministic (same spec, same bytes) and :func:`workflows.spec.parse.parse_spec`
reads it back to an equal spec. Every section is written, empty tables included, so a reader
always finds the same headings in the same order.
"""

from __future__ import annotations

from workflows.spec.cells import encode
from workflows.spec.layout import FORMAT_LINE, GOAL_HEADING, TABLES, TITLE_PREFIX, TableSection
from workflows.spec.model import Spec


def _table(section: TableSection, rows: list[object]) -> list[str]:
    lines = [
        "| " + " | ".join(section.headers) + " |",
        "|" + "|".join(" --- " for _ in section.columns) + "|",
    ]
    for row in rows:
        cells = [encode(getattr(row, column.field), column.codec) for column in section.columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_spec(spec: Spec) -> str:
    """The SPEC.md text of ``spec``.

    Example::

        >>> from workflows.spec.model import Spec, Stage
        >>> text = render_spec(Spec(name="hello", goal="Say hello.", stages=[Stage(id="greet")]))
        >>> text.splitlines()[0]
        '# SPEC: hello'
    """
    lines = [f"{TITLE_PREFIX}{spec.name}", "", FORMAT_LINE, "", f"## {GOAL_HEADING}", ""]
    if spec.goal:
        lines += [spec.goal, ""]
    for section in TABLES:
        lines += [f"## {section.heading}", ""]
        lines += _table(section, list(getattr(spec, section.field)))
        lines.append("")
    return "\n".join(lines)
