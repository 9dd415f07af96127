"""The SPEC.md schema: what a workflow is meant to do, before any code exists.

A :class:`Spec` separates intent (goal, inputs, outcomes), design (stages, parameters,
constraints, decisions) and the plan to get there (validation criteria, deliverables, phases).
It is rendered to SPEC.md by :mod:`workflows.spec.render`, read back by
:mod:`workflows.spec.parse`, and checked by :mod:`workflows.spec.validate`.

The models check the shape of each field (types, identifiers, non-empty text). Rules across
fields (acyclic stages, references that exist, defaults in range, contiguous ids) live in the
validator, which reports them with SPEC.md line numbers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

SPEC_FORMAT = "controlroom-spec/1"

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=64),
]
"""A stage, input or parameter name: a letter or underscore, then letters, digits, ``_`` or ``-``."""

def _stripped(text: str) -> str:
    return text.strip()


def _item(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError("an empty item; remove the stray comma or write the item")
    return text


Text = Annotated[str, AfterValidator(_stripped)]
"""One table cell of free text; surrounding whitespace is not significant."""

Item = Annotated[str, AfterValidator(_item)]
"""One element of a list cell (an option, a dependency)."""

ParamType = Literal["int", "float", "str", "bool"]
StageKind = Literal["task", "agent"]
PhaseStatus = Literal["planned", "in-progress", "done", "blocked"]
Value = int | float | str | bool


def _prose(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith("#"):
            raise ValueError(
                f"line {number} of the text starts with '#', which SPEC.md reserves for section "
                "headings; indent it or reword it"
            )
    if "\r" in text:
        raise ValueError("the text contains a bare carriage return; use newlines")
    return text


Prose = Annotated[str, AfterValidator(_prose)]
"""Multi-line markdown text (the goal); no line may start with ``#``."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Input(_Part):
    """A data set or stream the workflow consumes."""

    name: Identifier
    description: Text = ""
    format: Text = ""
    source: Text = ""


class Parameter(_Part):
    """A knob of the workflow, typed, with an optional default and numeric range."""

    name: Identifier
    type: ParamType
    default: Value | None = None
    min: int | float | None = None
    max: int | float | None = None
    description: Text = ""


class Stage(_Part):
    """A step of the workflow graph.

    ``kind`` is ``task`` (runs to completion) or ``agent`` (a persistent testbed agent).
    The payload is either a shell ``command`` or a python ``callable`` (``package.module:name``).
    ``count`` is the fan-out width and ``repeat`` how many times the stage's loop body runs;
    each is an integer or the name of an ``int`` parameter.
    """

    id: Identifier
    kind: StageKind = "task"
    depends_on: list[Identifier] = Field(default_factory=list)
    inputs: list[Identifier] = Field(default_factory=list)
    count: Annotated[int, Field(ge=1)] | Identifier = 1
    repeat: Annotated[int, Field(ge=1)] | Identifier = 1
    command: Text = ""
    callable: Text = ""
    description: Text = ""


class Constraint(_Part):
    """A rule the workflow must obey (``C1``...), with how it is checked."""

    id: Text
    text: Text
    check: Text = ""


class NonConstraint(_Part):
    """Something the workflow deliberately does not promise (``N1``...)."""

    id: Text
    text: Text


class Outcome(_Part):
    """An expected outcome of running the workflow (``O1``...)."""

    id: Text
    text: Text


class Criterion(_Part):
    """A validation criterion (``V1``...): what is checked and how.

    When ``automatic`` is true, ``expression`` is a python-like boolean expression over the
    spec's parameters and the run's results (see :mod:`workflows.spec.criteria`).
    """

    id: Text
    criterion: Text
    how: Text = ""
    automatic: bool = False
    expression: Text = ""


class Decision(_Part):
    """A design decision (``D1``...): the options weighed, the choice and why."""

    id: Text
    question: Text
    options: list[Item] = Field(default_factory=list)
    choice: Text = ""
    why: Text = ""


class Deliverable(_Part):
    """A file or artifact the implementation must produce."""

    path: Item
    description: Text = ""


class Phase(_Part):
    """A phase of the implementation plan (``P1``...) and its status."""

    id: Text
    name: Text
    status: PhaseStatus = "planned"
    notes: Text = ""


class Spec(_Part):
    """A whole SPEC.md.

    Example::

        >>> spec = Spec(
        ...     name="hello",
        ...     goal="Say hello once.",
        ...     stages=[Stage(id="greet", command="echo hello")],
        ... )
        >>> spec.stages[0].kind
        'task'
    """

    name: Identifier
    goal: Prose
    inputs: list[Input] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    stages: list[Stage] = Field(min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    non_constraints: list[NonConstraint] = Field(default_factory=list)
    outcomes: list[Outcome] = Field(default_factory=list)
    criteria: list[Criterion] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    deliverables: list[Deliverable] = Field(default_factory=list)
    phases: list[Phase] = Field(default_factory=list)
