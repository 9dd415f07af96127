"""The run step: a TaskWorkflow run locally through the installed runtime, and a bad broker address named."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agents.tasks.run import run_configured
from workflows.tasks.config import TaskConfig
from workflows.tasks.errors import TaskConfigError
from workflows.tasks.workflow import TaskStage, TaskWorkflow


class Params(BaseModel):
    K: int = 3


def _workflow(**workers: object) -> TaskWorkflow:
    config = TaskConfig.model_validate({"workflow": {"name": "demo"}, "agents": {"task_workers": workers}})
    return TaskWorkflow(name="demo", version="1", description="", parameters=Params, config=config,
                        stages=(TaskStage("work", count="K", sleep_s=0.01),))


async def test_run_local_goes_through_the_installed_runtime(tmp_path: object) -> None:
    summary = await _workflow(count=2).run_local(mode="fast", run_dir=tmp_path)  # type: ignore[arg-type]
    assert summary.status == "completed" and summary.stage_runs == {"work": 3}


async def test_a_bad_broker_address_names_the_field() -> None:
    with pytest.raises(TaskConfigError, match=r"\[agents.task_workers\] stomp: 'nope'"):
        await run_configured(_workflow(bus="stomp", stomp="nope"))
