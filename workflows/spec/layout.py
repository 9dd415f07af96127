"""Where each part of a :class:`~workflows.spec.model.Spec` sits in SPEC.md, and how cells are written.

Render and parse share this table so the two can never drift: each table section names its
heading, the spec field it fills, the row model and its columns; each column names the model
field and the cell codec that writes and reads it.

Cell codecs:

- ``text``: free text; ``\\`` ``|`` and line breaks are escaped as ``\\\\`` ``\\|`` ``\\n``.
- ``list``: comma-separated items, a comma inside an item escaped as ``\\,``.
- ``value``: a JSON value (``10``, ``0.5``, ``"fedavg"``, ``true``); empty for none. A cell that
  is not JSON is read as a string, so ``fedavg`` works too.
- ``size``: an integer or a parameter name (fan-out ``count``, loop ``repeat``).
- ``flag``: ``yes`` or ``no``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from workflows.spec.model import (
    Constraint,
    Criterion,
    Decision,
    Deliverable,
    Input,
    NonConstraint,
    Outcome,
    Parameter,
    Phase,
    Stage,
)

Codec = Literal["text", "list", "value", "size", "flag"]


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    codec: Codec = "text"


@dataclass(frozen=True)
class TableSection:
    heading: str
    field: str
    row: type[BaseModel]
    columns: tuple[Column, ...]
    id_prefix: str | None = None  # rows carry ids PREFIX1..PREFIXn when set

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]


GOAL_HEADING = "Goal"
TITLE_PREFIX = "# SPEC: "
FORMAT_LINE = "<!-- format: controlroom-spec/1 -->"

TABLES: tuple[TableSection, ...] = (
    TableSection(
        "Inputs",
        "inputs",
        Input,
        (Column("name", "name"), Column("format", "format"), Column("source", "source"),
         Column("description", "description")),
    ),
    TableSection(
        "Parameters",
        "parameters",
        Parameter,
        (Column("name", "name"), Column("type", "type"), Column("default", "default", "value"),
         Column("min", "min", "value"), Column("max", "max", "value"),
         Column("description", "description")),
    ),
    TableSection(
        "Stages",
        "stages",
        Stage,
        (Column("id", "id"), Column("kind", "kind"), Column("depends on", "depends_on", "list"),
         Column("inputs", "inputs", "list"), Column("count", "count", "size"),
         Column("repeat", "repeat", "size"), Column("command", "command"),
         Column("callable", "callable"), Column("description", "description")),
    ),
    TableSection(
        "Constraints",
        "constraints",
        Constraint,
        (Column("id", "id"), Column("constraint", "text"), Column("check", "check")),
        id_prefix="C",
    ),
    TableSection(
        "Non-constraints",
        "non_constraints",
        NonConstraint,
        (Column("id", "id"), Column("non-constraint", "text")),
        id_prefix="N",
    ),
    TableSection(
        "Expected outcomes",
        "outcomes",
        Outcome,
        (Column("id", "id"), Column("outcome", "text")),
        id_prefix="O",
    ),
    TableSection(
        "Validation criteria",
        "criteria",
        Criterion,
        (Column("id", "id"), Column("criterion", "criterion"), Column("how to check", "how"),
         Column("automatic", "automatic", "flag"), Column("expression", "expression")),
        id_prefix="V",
    ),
    TableSection(
        "Design decisions",
        "decisions",
        Decision,
        (Column("id", "id"), Column("question", "question"), Column("options", "options", "list"),
         Column("choice", "choice"), Column("why", "why")),
        id_prefix="D",
    ),
    TableSection(
        "Deliverables",
        "deliverables",
        Deliverable,
        (Column("path", "path"), Column("description", "description")),
    ),
    TableSection(
        "Phases",
        "phases",
        Phase,
        (Column("id", "id"), Column("phase", "name"), Column("status", "status"),
         Column("notes", "notes")),
        id_prefix="P",
    ),
)

SECTION_ORDER: tuple[str, ...] = (GOAL_HEADING, *(table.heading for table in TABLES))
