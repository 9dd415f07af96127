"""The DAG scheduler with in-process workers on the embedded bus: order, retries, timeouts, modes."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from agents.testbed.bus.base import Delivery
from tests.agents.tasks import sample_tasks
from tests.agents.tasks.conftest import NAMESPACE
from workflows.tasks.messages import TaskMessage, TaskResult, TaskStarted
from workflows.tasks.plan import CallableTemplate, CommandTemplate, SleepTemplate, StagePlan, build_plan
from agents.tasks.scheduler import TaskScheduler
from agents.tasks.worker import tasks_destination

MODULE = "tests.agents.tasks.sample_tasks"


def traced(stage: str, run_dir: Path, depends_on: tuple[str, ...] = (), count: int = 1, repeat: int = 1,
           sleep_s: float = 0.01, **policy: Any) -> StagePlan:
    params = {"stage": stage, "sleep_s": sleep_s}
    template = CallableTemplate(f"{MODULE}:traced", {"run_dir": str(run_dir), "params": params},
                                run_dir=str(run_dir))
    return StagePlan(stage, depends_on, count, repeat, template, **policy)


def scheduler(bus: Any, stages: list[StagePlan], **kwargs: Any) -> TaskScheduler:
    return TaskScheduler(build_plan(stages), bus, namespace=NAMESPACE, execution_id=f"t-{uuid.uuid4().hex[:8]}",
                         **kwargs)


async def test_fan_out_then_fan_in_per_round(bus: Any, start_workers: Any, tmp_path: Path) -> None:
    await start_workers(3)
    summary = await scheduler(bus, [traced("prep", tmp_path), traced("train", tmp_path, ("prep",), count=3, repeat=2, sleep_s=1.0),
                                    traced("agg", tmp_path, ("train",), repeat=2),
                                    traced("report", tmp_path, ("agg",))]).run()
    assert summary.status == "completed", summary.reason
    trace = sample_tasks.read_trace(tmp_path)

    def position(kind: str, key: str) -> int:
        return trace.index(f"{kind}:{key}")

    assert summary.stage_runs == {"prep": 1, "train": 6, "agg": 2, "report": 1}
    for r in range(2):
        # every train task of round r ends before that round's aggregate starts (fan-in) ...
        assert max(position("end", f"train.r{r}.i{i}") for i in range(3)) < position("start", f"agg.r{r}.i0")
    # ... and round 1 starts only after round 0's aggregate (the loop body does not overlap)
    assert position("end", "agg.r0.i0") < min(position("start", f"train.r1.i{i}") for i in range(3))
    assert position("end", "agg.r1.i0") < position("start", "report.r0.i0")
    # the three train tasks of a round ran at the same time on three workers (fan-out)
    starts = [position("start", f"train.r0.i{i}") for i in range(3)]
    assert max(starts) < min(position("end", f"train.r0.i{i}") for i in range(3))
    assert len(summary.outputs) == 10 and summary.metrics == {"last_round": 0.0}


async def test_diamond_dependencies(bus: Any, start_workers: Any, tmp_path: Path) -> None:
    await start_workers(2)
    summary = await scheduler(bus, [traced("a", tmp_path), traced("b", tmp_path, ("a",)),
                                    traced("c", tmp_path, ("a",)), traced("d", tmp_path, ("b", "c"))]).run()
    assert summary.status == "completed"
    trace = sample_tasks.read_trace(tmp_path)

    def position(kind: str, key: str) -> int:
        return trace.index(f"{kind}:{key}")

    assert position("end", "a.r0.i0") < min(position("start", "b.r0.i0"), position("start", "c.r0.i0"))
    assert max(position("end", "b.r0.i0"), position("end", "c.r0.i0")) < position("start", "d.r0.i0")


def flaky(stage: str, run_dir: Path, failures: int, retries: int, count: int = 1) -> StagePlan:
    params = {"token": uuid.uuid4().hex, "failures": failures}
    template = CallableTemplate(f"{MODULE}:flaky", {"run_dir": str(run_dir), "params": params}, run_dir=str(run_dir))
    return StagePlan(stage, (), count, 1, template, retries=retries)


async def test_retry_then_succeed(bus: Any, start_workers: Any, tmp_path: Path) -> None:
    await start_workers(2)
    summary = await scheduler(bus, [flaky("work", tmp_path, failures=1, retries=1, count=2)]).run()
    assert summary.status == "completed"
    assert summary.retries == 2 and summary.failed == 0
    assert [t.attempts for t in summary.tasks] == [2, 2]


async def test_retries_exhausted_fail_with_reason(bus: Any, start_workers: Any, tmp_path: Path) -> None:
    await start_workers(2)
    events: list[dict[str, Any]] = []
    summary = await scheduler(bus, [flaky("work", tmp_path, failures=10, retries=2),
                                    traced("after", tmp_path, ("work",))],
                              on_event=events.append).run()
    assert summary.status == "failed" and summary.failed == 1
    assert summary.reason is not None
    assert "work.r0.i0" in summary.reason and "3 attempt(s)" in summary.reason
    assert "injected failure 3" in summary.reason
    assert summary.stage_runs["after"] == 0  # nothing after a failed stage runs
    assert [e["attempt"] for e in events if e["msg_type"] == "task_retried"] == [1, 2]
    assert events[-1]["msg_type"] == "task_workflow_ended" and events[-1]["status"] == "failed"


async def test_worker_side_timeout_then_fail(bus: Any, start_workers: Any) -> None:
    await start_workers(1)
    template = CallableTemplate(f"{MODULE}:slow", {"run_dir": "/r", "params": {"seconds": 30}})
    started = time.monotonic()
    summary = await scheduler(bus, [StagePlan("slow", (), 1, 1, template, timeout_s=0.2, retries=1)]).run()
    assert time.monotonic() - started < 5
    assert summary.status == "failed"
    assert summary.tasks[0].attempts == 2
    assert "timed out after 0.2 s" in (summary.reason or "")


async def test_hung_worker_is_timed_out_and_the_task_retried(bus: Any, start_workers: Any) -> None:
    """A worker that takes a task and never answers: the scheduler's clock, not the worker's, fires.

    Like a real TaskWorker stuck in its payload, it holds the task unacknowledged (a worker acks
    after its result): having acked, it would have prefetch credit again, and a bus may hand it
    the retry (the embedded bus's turn order did, once in a soak run)."""
    took: asyncio.Event = asyncio.Event()

    async def hung(delivery: Delivery) -> None:
        task = TaskMessage.model_validate(delivery.body)
        await bus.publish(task.reply_to, TaskStarted(task_id=task.task_id, attempt=task.attempt,
                                                     worker="hung").model_dump(mode="json"))
        took.set()
        await asyncio.Event().wait()  # never answers, never acks, so never takes another task

    await bus.subscribe(tasks_destination(NAMESPACE), hung, ack="client", prefetch=1)
    run = scheduler(bus, [StagePlan("work", (), 1, 1, SleepTemplate(0.01), timeout_s=0.2, retries=1)], grace_s=0.1)
    running = asyncio.create_task(run.run())
    await took.wait()
    await start_workers(1)
    summary = await asyncio.wait_for(running, 10)
    assert summary.status == "completed"
    assert summary.retries == 1 and summary.tasks[0].attempts == 2 and summary.tasks[0].worker == "w0"


def running_with(marker: str) -> list[int]:
    """Live processes (not zombies) whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


async def test_command_timeout_kills_the_process_tree(bus: Any, start_workers: Any, tmp_path: Path) -> None:
    await start_workers(1)
    seconds = f"30.{uuid.uuid4().int % 10**9:09d}"  # a sleep no other process runs
    script = f"sleep {seconds} & sleep {seconds} & echo started > started; wait"
    template = CommandTemplate("sh -c {script}", {"script": script}, cwd=str(tmp_path), run_dir=str(tmp_path))
    summary = await scheduler(bus, [StagePlan("cmd", (), 1, 1, template, timeout_s=1.0)]).run()
    assert summary.status == "failed" and "killed" in (summary.reason or "")
    assert (tmp_path / "started").exists()  # the sleeps did start
    for _ in range(100):
        if not running_with(f"sleep {seconds}"):
            break
        await asyncio.sleep(0.05)
    assert running_with(f"sleep {seconds}") == [], "a process of the task survived its timeout"


async def test_command_reports_outputs_and_metrics(bus: Any, start_workers: Any, tmp_path: Path) -> None:
    await start_workers(2)
    code = 'import json,sys; print("noise"); print(json.dumps({"outputs": [sys.argv[1]], "metrics": {"x": 1.5}}))'
    template = CommandTemplate("python -c {code} out-{round}-{index}", {"code": code}, cwd=str(tmp_path),
                               run_dir=str(tmp_path))
    summary = await scheduler(bus, [StagePlan("cmd", (), 2, 2, template)]).run()
    assert summary.status == "completed"
    assert sorted(summary.outputs) == ["out-0-0", "out-0-1", "out-1-0", "out-1-1"]
    assert summary.metrics == {"x": 1.5}
    failing = CommandTemplate("python -c {code}", {"code": "import sys; sys.exit('bad input: x')"})
    failed = await scheduler(bus, [StagePlan("bad", (), 1, 1, failing)]).run()
    assert failed.status == "failed" and "exit status 1: bad input: x" in (failed.reason or "")


@pytest.mark.parametrize("mode", ["fast", "realtime"])
async def test_fast_mode_records_durations_realtime_sleeps_them(bus: Any, start_workers: Any, mode: str) -> None:
    await start_workers(1)
    started = time.monotonic()
    summary = await scheduler(bus, [StagePlan("s", (), 3, 1, SleepTemplate(0.15))], mode=mode).run()
    wall = time.monotonic() - started
    assert summary.status == "completed"
    if mode == "fast":
        assert summary.compute_s == pytest.approx(0.45) and wall < 0.3
    else:
        assert summary.compute_s >= 0.45 and wall >= 0.45


async def test_stop_ends_terminated(bus: Any, start_workers: Any) -> None:
    await start_workers(1)
    run = scheduler(bus, [StagePlan("s", (), 5, 1, SleepTemplate(5.0))])
    running = asyncio.create_task(run.run())
    await asyncio.sleep(0)  # let it send
    run.stop("operator said so")
    summary = await asyncio.wait_for(running, 5)
    assert summary.status == "terminated" and summary.reason == "operator said so"


async def test_duplicate_results_counted_once(bus: Any, start_workers: Any) -> None:
    """Two workers answering the same attempt (a redelivered task) count once."""
    await start_workers(1)
    run = scheduler(bus, [StagePlan("s", (), 1, 1, SleepTemplate(0.0))], mode="fast")
    summary = await run.run()
    assert summary.stage_runs == {"s": 1}
    late = {"msg_type": "task_result", "task_id": "s.r0.i0", "attempt": 1, "worker": "x", "status": "succeeded"}
    await run._on_result(TaskResult(**late))
    assert run._duplicates == 1


def test_worker_module_runs_as_a_program() -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "agents.tasks.worker", "--namespace", "x", "--stomp", "nope"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--stomp must be HOST:PORT" in done.stderr
