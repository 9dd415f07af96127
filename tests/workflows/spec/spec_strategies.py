"""Hypothesis strategies that generate schema-valid specs (not necessarily rule-valid ones)."""

from __future__ import annotations

from hypothesis import reject
from hypothesis import strategies as st
from pydantic import ValidationError

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
    Spec,
    Stage,
)

# Any character but surrogates, with the ones the format must escape made likely.
_chars = st.one_of(
    st.characters(exclude_categories=("Cs",)),
    st.sampled_from(list("|\\,\n\r `#-\"'")),
)
text = st.text(_chars, max_size=16)
item = text.filter(lambda s: s.strip() != "")
ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,8}", fullmatch=True)
number = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False))
value = st.one_of(st.none(), number, st.booleans(), text)
size = st.one_of(st.integers(1, 500), ident)
ids = st.from_regex(r"[A-Z][0-9]{1,2}", fullmatch=True)


def _goal_line(line: str) -> str:
    return line.lstrip("#") if line.lstrip().startswith("#") else line


goal = st.lists(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n\r"), max_size=30),
                max_size=4).map(lambda lines: "\n".join(_goal_line(line) for line in lines))

inputs = st.builds(Input, name=ident, description=text, format=text, source=text)
parameters = st.builds(Parameter, name=ident, type=st.sampled_from(["int", "float", "str", "bool"]),
                       default=value, min=st.none() | number, max=st.none() | number, description=text)
stages = st.builds(Stage, id=ident, kind=st.sampled_from(["task", "agent"]), depends_on=st.lists(ident, max_size=3),
                   inputs=st.lists(ident, max_size=2), count=size, repeat=size, command=text, callable=text,
                   description=text)
constraints = st.builds(Constraint, id=ids, text=text, check=text)
non_constraints = st.builds(NonConstraint, id=ids, text=text)
outcomes = st.builds(Outcome, id=ids, text=text)
criteria = st.builds(Criterion, id=ids, criterion=text, how=text, automatic=st.booleans(), expression=text)
decisions = st.builds(Decision, id=ids, question=text, options=st.lists(item, max_size=3), choice=text, why=text)
deliverables = st.builds(Deliverable, path=item, description=text)
phases = st.builds(Phase, id=ids, name=text, status=st.sampled_from(["planned", "in-progress", "done", "blocked"]),
                   notes=text)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """A schema-valid :class:`Spec` with every part populated by a few rows at most."""
    try:
        return Spec(
            name=draw(ident),
            goal=draw(goal),
            inputs=draw(st.lists(inputs, max_size=3)),
            parameters=draw(st.lists(parameters, max_size=3)),
            stages=draw(st.lists(stages, min_size=1, max_size=4)),
            constraints=draw(st.lists(constraints, max_size=3)),
            non_constraints=draw(st.lists(non_constraints, max_size=2)),
            outcomes=draw(st.lists(outcomes, max_size=2)),
            criteria=draw(st.lists(criteria, max_size=3)),
            decisions=draw(st.lists(decisions, max_size=2)),
            deliverables=draw(st.lists(deliverables, max_size=2)),
            phases=draw(st.lists(phases, max_size=2)),
        )
    except ValidationError:
        reject()
