"""Task workflows on ActiveMQ with the workers as child processes (python -m agents.tasks.worker)."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.testbed.bus.stomp import StompBus
from workflows.tasks.plan import CommandTemplate, SleepTemplate, StagePlan, build_plan
from agents.tasks.scheduler import TaskScheduler

pytestmark = pytest.mark.activemq


async def _start_worker(namespace: str, address: tuple[str, int], name: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agents.tasks.worker", "--namespace", namespace, "--stomp",
        f"{address[0]}:{address[1]}", "--name", name, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert b"ready" in line, line
    return process


@pytest.fixture
async def workers(stomp_address: tuple[str, int]) -> AsyncIterator[tuple[str, list[asyncio.subprocess.Process]]]:
    namespace = f"tw-{uuid.uuid4().hex[:10]}"
    processes = await asyncio.gather(*(_start_worker(namespace, stomp_address, f"child-{i}") for i in range(2)))
    yield namespace, list(processes)
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        await asyncio.wait_for(process.wait(), 30)


async def test_fan_out_fan_in_on_activemq_with_child_workers(
    workers: tuple[str, list[asyncio.subprocess.Process]], stomp_address: tuple[str, int], tmp_path: Path
) -> None:
    namespace, _ = workers
    code = "import json,sys,os; print(json.dumps({'outputs': [sys.argv[1]], 'metrics': {'pid': os.getpid()}}))"
    plan = build_plan([
        StagePlan("fan", (), 6, 2, SleepTemplate(0.2)),
        StagePlan("join", ("fan",), 1, 2, CommandTemplate("python -c {code} join-{round}", {"code": code},
                                                          cwd=str(tmp_path))),
    ])
    async with StompBus(*stomp_address) as bus:
        summary = await asyncio.wait_for(
            TaskScheduler(plan, bus, namespace=namespace, execution_id="amq-1", mode="realtime").run(), 60)
    assert summary.status == "completed", summary.reason
    assert summary.stage_runs == {"fan": 12, "join": 2}
    assert summary.outputs == ["join-0", "join-1"]
    assert {t.worker for t in summary.tasks if t.stage == "fan"} == {"child-0", "child-1"}
    assert summary.compute_s >= 12 * 0.2


async def test_a_killed_child_worker_loses_nothing(
    workers: tuple[str, list[asyncio.subprocess.Process]], stomp_address: tuple[str, int]
) -> None:
    """SIGKILL one worker while it runs a task: the broker redelivers that same attempt to the other."""
    namespace, processes = workers
    plan = build_plan([StagePlan("work", (), 4, 1, SleepTemplate(1.0), timeout_s=10)])
    async with StompBus(*stomp_address) as bus:
        run = TaskScheduler(plan, bus, namespace=namespace, execution_id="amq-kill", mode="realtime")
        running = asyncio.create_task(run.run())
        async with asyncio.timeout(30):  # until child-0 reports a task started: it holds it, unacked
            while not (held := [t for t in run.tasks.values() if t.state == "running" and t.worker == "child-0"]):
                await asyncio.sleep(0.02)
        processes[0].kill()
        summary = await asyncio.wait_for(running, 60)
    assert summary.status == "completed", summary.reason
    assert summary.stage_runs == {"work": 4}
    (task,) = [t for t in summary.tasks if t.task_id == held[0].task_id]
    # the held task ran to the end on child-1 as the SAME attempt: the broker redelivered it; a
    # lost task would have come back only through the scheduler's timeout, as attempt 2
    assert task.state == "succeeded" and task.worker == "child-1" and task.attempts == 1, task
    assert summary.retries == 0 and summary.failed == 0
    assert {t.worker for t in summary.tasks} == {"child-1"}
