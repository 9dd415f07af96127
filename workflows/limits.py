"""`Limits`: every count a caller can ask a node for, and the one error for asking too much.

A tenant's call can ask for workers (``scale_workers``, the ``target_worker_count`` /
``max_worker_count`` parameters, the fast-processing auto-scaling), tasks (a task workflow's
fan-out), testbeds, running executions, STFs and stored bytes. Each is bounded here; the node
holds one instance as ``NodeSettings.limits`` (environment ``CONTROLROOM_NODE_LIMITS__<FIELD>``,
e.g. ``CONTROLROOM_NODE_LIMITS__MAX_WORKER_COUNT=200``) and hands it to the testbed manager.
Asking for more raises :class:`LimitExceeded`, whose message names the field, the limit and
the setting. List sizes are bounded separately by the store (``limit`` at most 200).

Example::

    >>> limits = Limits(max_worker_count=50)
    >>> limits.check("body.count", 20, "max_worker_count")
    >>> try:
    ...     limits.check("body.count", 2000, "max_worker_count")
    ... except LimitExceeded as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    body.count: 2000 is more than this node allows (max_worker_count = 50, node setting limits.max_worker_count,
    env CONTROLROOM_NODE_LIMITS__MAX_WORKER_COUNT); ask for at most 50, or ask the node's operator to raise the setting
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.errors import WorkflowError

__all__ = ["MAX_PLAN_TASKS", "LimitExceeded", "LimitName", "Limits"]

MAX_PLAN_TASKS = 1_000_000
"""The engine's own ceiling on the tasks of one plan (:func:`workflows.tasks.plan.build_plan`)."""

LimitName = Literal["max_worker_count", "max_tasks_per_workflow", "max_testbeds_per_user",
                    "max_running_executions_per_user", "max_stf_count", "max_generated_bytes"]

_WORKER_PARAMETERS = ("target_worker_count", "max_worker_count", "worker_count_min")


class LimitExceeded(WorkflowError):
    """A caller asked for more than a node limit allows; the message names field, limit and setting."""

    def __init__(self, field: str, asked: object, limit: LimitName, value: int, *, what: str = "",
                 problem: str | None = None) -> None:
        self.field = field
        self.limit = limit
        self.value = value
        shown = f"{asked!r}" if not isinstance(asked, int | float) else f"{asked:g}" if isinstance(asked, float) else str(asked)
        problem = problem or f"{shown}{' ' + what if what else ''} is more than this node allows"
        super().__init__(
            f"{field}: {problem} ({limit} = {value}, node setting limits.{limit}, env "
            f"CONTROLROOM_NODE_LIMITS__{limit.upper()}); ask for at most {value}, "
            "or ask the node's operator to raise the setting"
        )


class Limits(BaseModel):
    """The node's bounds on what one caller may ask for (section ``limits`` of the node settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_worker_count: int = Field(
        100, ge=1, le=10_000,
        description="slice (and task) workers one testbed may run: scale_workers counts, the target_worker_count "
                    "and max_worker_count parameters; the auto-scaling and the worker pool are clamped to it")
    max_tasks_per_workflow: int = Field(
        10_000, ge=1, le=MAX_PLAN_TASKS,
        description="tasks (first attempts, every stage and round) one task-workflow execution may plan")
    max_testbeds_per_user: int = Field(
        8, ge=1, le=10_000, description="testbeds one principal (user) may have running on this node at once")
    max_running_executions_per_user: int = Field(
        16, ge=1, le=100_000, description="pending or running executions one principal may have at once")
    max_stf_count: int = Field(
        100_000, ge=1, le=100_000_000,
        description="STFs one execution may produce: stf_count, or physics_period_count x STFs per period, or "
                    "duration / stf_interval; a fast run that never ends (all of them 0) is refused")
    max_generated_bytes: int = Field(
        5_000_000, ge=1_000, le=1_000_000_000,
        description="bytes of files one registered generated workflow may keep in the store")

    def check(self, field: str, asked: int | float, limit: LimitName, *, what: str = "") -> None:
        """Raise :class:`LimitExceeded` when ``asked`` exceeds the limit ``limit``."""
        value: int = getattr(self, limit)
        if asked > value:
            raise LimitExceeded(field, asked, limit, value, what=what)

    def clamp_workers(self, count: int) -> int:
        """``count`` bounded by ``max_worker_count`` (for counts nobody asked for directly)."""
        return max(0, min(count, self.max_worker_count))

    def check_parameters(self, parameters: Mapping[str, Any], *, realtime: bool) -> None:
        """Check a run's effective parameters: worker counts and the STFs it will produce."""
        for name in _WORKER_PARAMETERS:
            value = parameters.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                self.check(f"parameters.{name}", value, "max_worker_count")
        stfs = expected_stfs(parameters)
        if stfs is None:
            if not realtime and "stf_count" in parameters:
                raise LimitExceeded(
                    "parameters.stf_count", 0, "max_stf_count", self.max_stf_count,
                    problem="0 with physics_period_count = 0 and no duration is a fast run that never ends; set "
                            "stf_count, physics_period_count or duration, or run it with realtime=true")
            return
        field = "parameters.stf_count" if parameters.get("stf_count") else (
            "parameters.physics_period_count" if parameters.get("physics_period_count") else "parameters.duration")
        self.check(field, stfs, "max_stf_count", what="STFs")


def expected_stfs(parameters: Mapping[str, Any]) -> int | None:
    """The STFs a DAQ run with these parameters produces at most; None when it never ends by itself.

    >>> expected_stfs({"stf_count": 0, "physics_period_count": 3, "physics_period_duration": 10, "stf_interval": 2})
    15
    >>> expected_stfs({"stf_count": 0, "physics_period_count": 0, "duration": 60, "stf_interval": 2})
    30
    >>> expected_stfs({"stf_count": 0, "physics_period_count": 0, "stf_interval": 2}) is None
    True
    """
    if "stf_count" not in parameters:
        return 0  # not a DAQ run
    stf_count = int(parameters.get("stf_count") or 0)
    if stf_count > 0:
        return stf_count
    interval = float(parameters.get("stf_interval") or 0) or 1.0
    periods = int(parameters.get("physics_period_count") or 0)
    if periods > 0:
        duration = float(parameters.get("physics_period_duration") or 0)
        return periods * int(duration / interval + 1e-9)
    duration = parameters.get("duration")
    if duration:
        return math.ceil(float(duration) / interval)
    return None
