"""The debugger's failure catalog, injected: one injector per class into a live ``controlroom up``.

Where a person could cause the failure, the injector uses the gateway's tools; where the failure
lives outside them it acts on the machine: it cuts the :class:`BrokerProxy` in front of the STOMP
broker, freezes the workflow runner's process (SIGSTOP), or closes the node's PostgreSQL database.

Example::

    async with LiveUp.start(tmp / "state") as live:
        injection = await inject(live, "agent_crashed", namespace="chaos-a")
        report = await live.call("debug_execution", namespace=injection.namespace)
        await injection.undo()
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

from agents.ai.evaluation.chaos.broker_proxy import BrokerProxy
from agents.ai.evaluation.chaos.errors import ChaosError
from agents.ai.evaluation.chaos.injection import KINDS, Injection, Injector, Kind, testbed_to_break
from agents.ai.evaluation.chaos.live_up import LiveUp
from agents.ai.evaluation.chaos.postgres_admin import admin_execute, database_name
from agents.ai.evaluation.chaos.process_freeze import freeze

STUCK_WINDOW_S = 5.5  # the stuck rule: 5 expected intervals of at least 1 s


async def _agent_crashed(live: LiveUp, namespace: str, **_: Any) -> Injection:
    status = await testbed_to_break(live, namespace)
    victim = next(a["name"] for a in status["agents"] if a["agent_type"] == "fastmon")
    await live.call("kill_agent", name=victim, reason="chaos: agent crash")
    return Injection("agent_crashed", namespace, detail=f"killed {victim}")


async def _invalid_parameter(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    error = await live.refused("start_workflow", namespace=namespace, parameters={"stf_count": -5}, reason="chaos: bad parameter")
    await live.warning_logged(namespace, "start_workflow rejected")
    return Injection("invalid_parameter", namespace, detail=error)


async def _missing_config(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    error = await live.refused("start_workflow", namespace=namespace, config="chaos_no_such_config", reason="chaos: missing config")
    await live.warning_logged(namespace, "start_workflow rejected")
    return Injection("missing_config", namespace, detail=error)


async def _testbed_already_running(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    second = await live.call("start_testbed", namespace=namespace, reason="chaos: second start")
    if not second.get("already_running"):
        raise ChaosError(f"the second start_testbed in {namespace} did not report already_running")
    await live.warning_logged(namespace, "already running")
    return Injection("testbed_already_running", namespace, detail=second.get("message", ""))


async def _worker_payload_errors(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    started = await live.call("start_workflow", namespace=namespace, reason="chaos: payload errors",
                              parameters={"stf_count": 4, "slice_failure_rate": 0.8, "slice_max_retries": 0})
    execution_id = started["execution_id"]

    async def resolved() -> bool:
        monitor = await live.call("get_workflow_monitor", execution_id=execution_id)
        slices = monitor.get("slices") or {}
        return monitor["status"] != "running" and slices.get("failed", 0) > 0 and not slices.get("queued") \
            and not slices.get("processing")
    await live.until(f"{execution_id} to resolve its slices", resolved)
    return Injection("worker_payload_errors", namespace, execution_id, detail="slice_failure_rate=0.8, no retries")


async def _slice_backlog(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    started = await live.call(
        "start_workflow", namespace=namespace, realtime=True, reason="chaos: too few workers",
        parameters={"stf_count": 3, "target_worker_count": 1, "max_worker_count": 1, "worker_count_min": 1,
                    "stf_sampling_rate": 0.3, "slice_processing_time": 60, "realtime_factor": 0.02},
    )
    execution_id = started["execution_id"]

    async def backlog() -> bool:
        monitor = await live.call("get_workflow_monitor", execution_id=execution_id)
        return (monitor.get("slices") or {}).get("queued", 0) > 4 * max(monitor.get("workers_active") or 1, 1)
    await live.until(f"a slice backlog in {execution_id}", backlog)
    return Injection("slice_backlog", namespace, execution_id, detail="1 worker, 1.2 s per slice")


async def _stuck_execution(live: LiveUp, namespace: str, **_: Any) -> Injection:
    """Freeze (SIGSTOP) the workflow runner's process mid-run: alive, but no progress (process mode)."""
    status = await testbed_to_break(live, namespace)
    runner = next((a for a in status["agents"] if a["agent_type"] == "workflow_runner" or "runner" in a["agent_type"]), None)
    if runner is None or not runner.get("pid"):
        raise ChaosError(f"no workflow runner process in {namespace} (stuck_execution needs --bus stomp): {status['agents']}")
    started = await live.call("start_workflow", namespace=namespace, realtime=True, reason="chaos: stuck run",
                              parameters={"stf_count": 50, "realtime_factor": 0.05, "stf_sampling_rate": 0.001, "slices_per_sample": 1, "slice_processing_time": 1,
                                          "target_worker_count": 1, "max_worker_count": 1, "worker_count_min": 1})
    execution_id = started["execution_id"]

    async def running() -> bool:
        return (await live.call("get_workflow_monitor", execution_id=execution_id)).get("stf_count", 0) > 0
    await live.until(f"{execution_id} to make progress", running)
    pid = int(runner["pid"])
    await freeze(pid, live.store_url)
    frozen_at = time.monotonic()

    async def idle() -> bool:  # no new state event for the stuck rule's window (5 expected intervals, >= 5 s)
        monitor = await live.call("get_workflow_monitor", execution_id=execution_id)
        stamps = [e["timestamp"] for e in monitor.get("recent_events") or []]
        last = datetime.fromisoformat(max(stamps).replace("Z", "+00:00")) if stamps else None
        return last is not None and (datetime.now(UTC) - last).total_seconds() > STUCK_WINDOW_S \
            and time.monotonic() - frozen_at > STUCK_WINDOW_S
    await live.until(f"{execution_id} to stop making progress", idle)

    async def resume() -> None:
        os.kill(pid, signal.SIGCONT)
    return Injection("stuck_execution", namespace, execution_id, detail=f"SIGSTOP pid {pid} ({runner['name']})",
                     undo_steps=[resume])


async def _broker_unreachable(live: LiveUp, namespace: str, *, proxy: BrokerProxy | None = None, **_: Any) -> Injection:
    if proxy is None:
        raise ChaosError("broker_unreachable needs the node's broker behind a BrokerProxy (run_suite sets it up)")
    await testbed_to_break(live, namespace)
    await proxy.cut()
    await live.warning_logged(namespace, "")  # any warning: the agents noticed the broker went away
    return Injection("broker_unreachable", namespace, detail=f"closed the broker proxy {proxy.address}")


async def _disk_full(live: LiveUp, namespace: str, **_: Any) -> Injection:
    """SIMULATED: a WARNING with SQLite's own 'database or disk is full' text, written into the node's store."""
    from workflows.store import LogIn
    from workflows.store.store import open_store

    await testbed_to_break(live, namespace)
    async with open_store(live.store_url, upgrade=False) as store:  # the node's store, already at head
        await store.logs.add_logs([LogIn(
            namespace=namespace, agent="chaos", level=40, created_at=datetime.now(UTC),
            message="could not record the run state: (sqlite3.OperationalError) database or disk is full",
        )])
    return Injection("disk_full", namespace, how="simulated", detail="SQLite's disk-full error text written as an ERROR row")


async def _database_unavailable(live: LiveUp, namespace: str, **_: Any) -> Injection:
    """Close the node's PostgreSQL database to new connections and end the open ones."""
    if not live.database_url or "postgresql" not in live.database_url:
        raise ChaosError("database_unavailable needs a node on PostgreSQL (run_suite(postgres_url=...))")
    await testbed_to_break(live, namespace)
    database = database_name(live.database_url)
    await admin_execute(live.database_url, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false',
                        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()")

    async def reopen() -> None:
        await admin_execute(live.database_url or "", f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    return Injection("database_unavailable", namespace, detail=f"database {database} closed to connections",
                     undo_steps=[reopen])


INJECTORS: dict[Kind, Injector] = {
    "agent_crashed": _agent_crashed,
    "broker_unreachable": _broker_unreachable,
    "invalid_parameter": _invalid_parameter,
    "missing_config": _missing_config,
    "testbed_already_running": _testbed_already_running,
    "stuck_execution": _stuck_execution,
    "slice_backlog": _slice_backlog,
    "worker_payload_errors": _worker_payload_errors,
    "disk_full": _disk_full,
    "database_unavailable": _database_unavailable,
}


async def inject(live: LiveUp, kind: Kind, namespace: str, **options: Any) -> Injection:
    """Inject one failure class into ``namespace`` on ``live``; unknown kinds list the known ones."""
    if kind not in INJECTORS:
        raise ChaosError(f"kind {kind!r} is not a failure class; known: {', '.join(KINDS)}")
    return await INJECTORS[kind](live, namespace, **options)
