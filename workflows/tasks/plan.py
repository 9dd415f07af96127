"""A task plan: stages expanded into (stage, round) groups of ``count`` tasks, with their order.

Rules (the SPEC.md semantics of ``count``, ``repeat`` and ``depends_on``):

* A stage with ``repeat`` R runs R rounds; each round is a group of ``count`` tasks
  (``index`` 0..count-1). A group starts when every group it depends on is done (fan-in).
* ``d`` depends on ``s``: with equal repeats, round r of d waits for round r of s; when s runs
  once, every round of d waits for it; when d runs once, it waits for the last round of s;
  otherwise (two different loops) each round of d waits for the last round of s.
* Stages with the same repeat R > 1 linked by dependencies form a loop body: round r + 1 of
  the body's entry stages waits for round r of its exit stages, so rounds never overlap.

Everything is planned once, before the first task runs (no per-round planning).

Example::

    >>> stages = [StagePlan("prep", (), 1, 1, SleepTemplate(0.1)),
    ...           StagePlan("train", ("prep",), 3, 2, SleepTemplate(0.1)),
    ...           StagePlan("agg", ("train",), 1, 2, SleepTemplate(0.1))]
    >>> plan = build_plan(stages)
    >>> plan.total_tasks, plan.after[("train", 1)]
    (9, (('agg', 0), ('prep', 0)))
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflows.limits import MAX_PLAN_TASKS
from workflows.tasks.errors import PlanError
from workflows.tasks.messages import CallablePayload, CommandPayload, Payload, SleepPayload
from workflows.tasks.sandbox import SandboxLimits

Group = tuple[str, int]
"""A (stage id, round) pair: the unit of fan-out and fan-in."""


class PayloadTemplate(Protocol):
    """Makes the payload of one task from its index and round."""

    def render(self, index: int, round_: int) -> Payload: ...


@dataclass(frozen=True)
class SleepTemplate:
    """Synthetic work of ``seconds`` per task."""

    seconds: float

    def render(self, index: int, round_: int) -> Payload:
        return SleepPayload(seconds=self.seconds)


@dataclass(frozen=True)
class CallableTemplate:
    """``ref(**args, index=..., round=...)``; ``args`` are fixed for every task of the stage.

    It runs in the sandbox: ``cwd`` (module search), ``run_dir`` (writable) and ``limits``.
    """

    ref: str
    args: Mapping[str, Any] = field(default_factory=dict)
    cwd: str | None = None
    run_dir: str | None = None
    limits: SandboxLimits = SandboxLimits()

    def render(self, index: int, round_: int) -> Payload:
        return CallablePayload(ref=self.ref, args={**self.args, "index": index, "round": round_}, cwd=self.cwd,
                               run_dir=self.run_dir, limits=self.limits)


_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class CommandTemplate:
    """A command line with placeholders ``{index}``, ``{round}`` and any of ``values``.

    The line is split like a shell would (no shell runs it), then each word is formatted, so a
    value with spaces stays one argument. ``{{`` and ``}}`` are literal braces.
    """

    command: str
    values: Mapping[str, Any] = field(default_factory=dict)
    cwd: str | None = None
    stage: str = ""
    run_dir: str | None = None
    limits: SandboxLimits = SandboxLimits()

    def __post_init__(self) -> None:
        try:
            words = shlex.split(self.command)
        except ValueError as exc:
            raise PlanError(f"stage {self.stage!r}: command cannot be split into words ({exc}); check its quotes") from None
        if not words:
            raise PlanError(f"stage {self.stage!r}: the command is empty; write the program to run")
        known = {*self.values, "index", "round"}
        for word in words:
            for _, name, _, _ in _FORMATTER.parse(word):
                if name is not None and name not in known:
                    raise PlanError(f"stage {self.stage!r}: command placeholder {{{name}}} has no value; use "
                                    f"{{index}}, {{round}} or one of: {', '.join(sorted(self.values))}")
        object.__setattr__(self, "_words", tuple(words))

    def render(self, index: int, round_: int) -> Payload:
        values = {**self.values, "index": index, "round": round_}
        return CommandPayload(argv=[w.format_map(values) for w in self._words], cwd=self.cwd,  # type: ignore[attr-defined]
                              run_dir=self.run_dir, limits=self.limits)


@dataclass(frozen=True)
class StagePlan:
    """One stage: ``count`` tasks per round, ``repeat`` rounds, its payload and failure policy."""

    id: str
    depends_on: tuple[str, ...]
    count: int
    repeat: int
    payload: PayloadTemplate
    timeout_s: float | None = None
    retries: int = 0


@dataclass(frozen=True)
class TaskPlan:
    """Stages, the groups in a valid start order, and what each group waits for."""

    stages: Mapping[str, StagePlan]
    order: tuple[Group, ...]
    after: Mapping[Group, tuple[Group, ...]]

    @property
    def total_tasks(self) -> int:
        """How many tasks (first attempts) the plan runs."""
        return sum(self.stages[s].count for s, _ in self.order)

    def planned_runs(self) -> dict[str, int]:
        """Tasks per stage id."""
        return {s.id: s.count * s.repeat for s in self.stages.values()}


def _bodies(stages: Mapping[str, StagePlan]) -> dict[str, str]:
    """Loop bodies: stage id -> a representative id, for stages linked with the same repeat > 1."""
    parent = {s: s for s in stages}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for stage in stages.values():
        for dep in stage.depends_on:
            if stage.repeat > 1 and stages[dep].repeat == stage.repeat:
                parent[find(stage.id)] = find(dep)
    return {s: find(s) for s in stages if stages[s].repeat > 1}


def build_plan(stages: Sequence[StagePlan], *, max_tasks: int = MAX_PLAN_TASKS) -> TaskPlan:
    """Check the stages and expand them into groups; raise :class:`PlanError` naming the problem.

    A plan of more than ``max_tasks`` tasks (count x repeat, summed over the stages) is refused
    before anything is expanded; the node checks its own, lower ``limits.max_tasks_per_workflow``
    when the execution starts.
    """
    planned = sum(max(stage.count, 0) * max(stage.repeat, 0) for stage in stages)
    if planned > max_tasks:
        raise PlanError(f"the plan has {planned} tasks (count x repeat over every stage), more than the engine's "
                        f"{max_tasks}; lower the counts or repeats")
    by_id: dict[str, StagePlan] = {}
    for stage in stages:
        if stage.id in by_id:
            raise PlanError(f"stage {stage.id!r} is defined twice; give each stage its own id")
        if stage.count < 1 or stage.repeat < 1:
            raise PlanError(f"stage {stage.id!r}: count and repeat must be >= 1 (got {stage.count}, {stage.repeat})")
        if stage.retries < 0:
            raise PlanError(f"stage {stage.id!r}: retries must be >= 0 (got {stage.retries})")
        by_id[stage.id] = stage
    for stage in stages:
        for dep in stage.depends_on:
            if dep not in by_id:
                raise PlanError(f"stage {stage.id!r} depends on unknown stage {dep!r}; known: {', '.join(by_id)}")
    if not by_id:
        raise PlanError("a task plan needs at least one stage")

    after: dict[Group, set[Group]] = {}
    for stage in stages:
        for r in range(stage.repeat):
            waits: set[Group] = set()
            for dep_id in stage.depends_on:
                dep = by_id[dep_id]
                if dep.repeat == stage.repeat:
                    waits.add((dep_id, r))
                elif dep.repeat == 1:
                    waits.add((dep_id, 0))
                else:
                    waits.add((dep_id, dep.repeat - 1))
            after[(stage.id, r)] = waits
    body_of = _bodies(by_id)
    members: dict[str, list[str]] = {}
    for stage_id, body in body_of.items():
        members.setdefault(body, []).append(stage_id)
    for ids in members.values():
        inside = set(ids)
        entries = [s for s in ids if not any(d in inside for d in by_id[s].depends_on)]
        exits = [s for s in ids if not any(s in by_id[o].depends_on for o in inside)]
        for r in range(1, by_id[ids[0]].repeat):
            for entry in entries:
                after[(entry, r)].update((exit_, r - 1) for exit_ in exits)

    order: list[Group] = []
    waiting = {g: set(w) for g, w in after.items()}
    ready = sorted(g for g, w in waiting.items() if not w)
    dependents: dict[Group, list[Group]] = {}
    for group, waits in after.items():
        for w in waits:
            dependents.setdefault(w, []).append(group)
    while ready:
        group = ready.pop(0)
        order.append(group)
        for d in sorted(dependents.get(group, [])):
            waiting[d].discard(group)
            if not waiting[d]:
                ready.append(d)
    if len(order) != len(after):
        stuck = sorted({s for (s, _), w in waiting.items() if w})
        raise PlanError(f"the stages form a cycle; these cannot start: {', '.join(stuck)}; remove one dependency")
    return TaskPlan(stages=by_id, order=tuple(order),
                    after={g: tuple(sorted(w)) for g, w in after.items()})
