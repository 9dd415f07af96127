"""`workflows.limits.Limits` and the task-plan bound: every count a caller asks for has a ceiling."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from mcp_nodes.settings import NodeSettings
from workflows.limits import LimitExceeded, Limits, expected_stfs
from workflows.tasks.errors import PlanError
from workflows.tasks.plan import SleepTemplate, StagePlan, build_plan
from workflows.tasks.workflow import TaskStage, TaskWorkflow


def test_a_refusal_names_the_field_the_limit_and_the_setting() -> None:
    limits = Limits(max_worker_count=5)
    limits.check("body.count", 5, "max_worker_count")  # at the limit: fine
    with pytest.raises(LimitExceeded) as caught:
        limits.check("body.count", 6, "max_worker_count", what="workers")
    message = str(caught.value)
    assert message.startswith("body.count: 6 workers is more than this node allows (max_worker_count = 5")
    assert "limits.max_worker_count" in message and "CONTROLROOM_NODE_LIMITS__MAX_WORKER_COUNT" in message
    assert limits.clamp_workers(2000) == 5 and limits.clamp_workers(-3) == 0


def test_run_parameters_are_checked_for_workers_and_stfs() -> None:
    limits = Limits(max_worker_count=10, max_stf_count=100)
    daq = {"stf_count": 0, "physics_period_count": 2, "physics_period_duration": 10.0, "stf_interval": 2.0}
    limits.check_parameters(daq, realtime=False)  # 2 periods x 5 STFs
    with pytest.raises(LimitExceeded, match=r"^parameters.physics_period_count: 1000 STFs .*max_stf_count = 100"):
        limits.check_parameters({**daq, "physics_period_count": 200}, realtime=False)
    with pytest.raises(LimitExceeded, match=r"^parameters.stf_count: 101 STFs"):
        limits.check_parameters({**daq, "stf_count": 101}, realtime=True)
    with pytest.raises(LimitExceeded, match=r"^parameters.duration: 500 STFs"):
        limits.check_parameters({**daq, "physics_period_count": 0, "duration": 1000.0}, realtime=True)
    endless = {**daq, "physics_period_count": 0}
    limits.check_parameters(endless, realtime=True)  # a real-time run ends when stopped
    with pytest.raises(LimitExceeded, match=r"^parameters.stf_count: 0 with .* never ends"):
        limits.check_parameters(endless, realtime=False)
    with pytest.raises(LimitExceeded, match=r"^parameters.max_worker_count: 11 "):
        limits.check_parameters({"target_worker_count": 5, "max_worker_count": 11}, realtime=False)
    assert expected_stfs({"K": 3}) == 0  # not a DAQ run: nothing to count


def test_the_node_settings_carry_the_limits() -> None:
    assert NodeSettings().limits == Limits()
    settings = NodeSettings(limits={"max_testbeds_per_user": 2})
    assert settings.limits.max_testbeds_per_user == 2 and settings.limits.max_worker_count == 100
    with pytest.raises(ValueError, match="max_worker_count"):
        NodeSettings(limits={"max_worker_count": 0})


def test_a_huge_plan_is_refused_before_it_is_expanded() -> None:
    stages = [StagePlan("fan", (), 10**9, 10**9, SleepTemplate(0.0))]  # 1e18 tasks: expanding would never end
    with pytest.raises(PlanError, match=r"the plan has 1000000000000000000 tasks .* more than the engine's 1000000"):
        build_plan(stages)
    with pytest.raises(PlanError, match="more than the engine's 10"):
        build_plan([StagePlan("fan", (), 4, 3, SleepTemplate(0.0))], max_tasks=10)
    assert build_plan([StagePlan("fan", (), 4, 3, SleepTemplate(0.0))], max_tasks=12).total_tasks == 12


def test_planned_tasks_counts_without_planning() -> None:
    class P(BaseModel):
        K: int = 3
        T: int = 2

    workflow = TaskWorkflow(name="demo", version="1", description="", parameters=P,
                            stages=(TaskStage("prep", sleep_s=0.1), TaskStage("work", ("prep",), count="K", repeat="T",
                                                                                sleep_s=0.1)))
    assert workflow.planned_tasks(P()) == 1 + 3 * 2
    assert workflow.planned_tasks(P(K=10**6, T=10**6)) == 1 + 10**12
