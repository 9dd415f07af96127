"""Cases beyond the catalog, injected: operators' deliberate acts and degraded-but-running runs.

A principal's deliberate act is not a failure: the right answer names it and applies no AUTO
fix. A degraded run is not a failure either: the right answer says what differs from the same
config's previous executions. What each case's right answer is lives in ``scoring.EXPECTED``.
"""

from __future__ import annotations

from typing import Any

from agents.ai.evaluation.chaos.broker_proxy import BrokerProxy
from agents.ai.evaluation.chaos.errors import ChaosError
from agents.ai.evaluation.chaos.injection import ExtraKind, Injection, Injector, testbed_to_break
from agents.ai.evaluation.chaos.live_up import LiveUp

REALTIME_RUN = {"stf_count": 50, "realtime_factor": 0.05}
# real-time runs (wall-clock latency is what slows), few slices: 0.6 s a slice, 6 s when slow
SLOW_BASE = {"realtime_factor": 0.02, "stf_sampling_rate": 0.3, "slices_per_sample": 3}


async def _baseline_runs(live: LiveUp, namespace: str, runs: int = 2, realtime: bool = False, **parameters: Any) -> None:
    """Earlier completed executions of the default config: what a degraded run is compared with."""
    for _ in range(runs):
        started = await live.call("start_workflow", namespace=namespace, reason="chaos: a baseline run", realtime=realtime,
                                  parameters={"stf_count": 3, **parameters})
        await live.call("wait_for_execution", execution_id=started["execution_id"], timeout_s=120)


async def _finished(live: LiveUp, execution_id: str) -> None:
    await live.call("wait_for_execution", execution_id=execution_id, timeout_s=180)


async def _operator_stop_workflow(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    started = await live.call("start_workflow", namespace=namespace, realtime=True, parameters=REALTIME_RUN)
    await live.call("stop_workflow", execution_id=started["execution_id"], reason="beam dump requested by shift leader")
    return Injection("operator_stop_workflow", namespace, started["execution_id"], detail="stop_workflow with a reason")


async def _operator_stop_testbed(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    started = await live.call("start_workflow", namespace=namespace, realtime=True, parameters=REALTIME_RUN)
    await live.call("stop_testbed", namespace=namespace, reason="maintenance window")
    return Injection("operator_stop_testbed", namespace, started["execution_id"], detail="stop_testbed while it runs")


async def _operator_kill_agents(live: LiveUp, namespace: str, **_: Any) -> Injection:
    status = await testbed_to_break(live, namespace)
    victims = [a["name"] for a in status["agents"] if a["agent_type"] in ("fastmon", "processing")]
    for name in victims:
        await live.call("kill_agent", name=name, reason="chaos: moving agents to another host")
    return Injection("operator_kill_agents", namespace, detail=f"kill_agent {', '.join(victims)}")


async def _operator_scale_down(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    started = await live.call(
        "start_workflow", namespace=namespace, realtime=True, reason="chaos: two workers",
        parameters={"stf_count": 3, "target_worker_count": 2, "max_worker_count": 2, "worker_count_min": 1,
                    "stf_sampling_rate": 0.3, "slice_processing_time": 60, "realtime_factor": 0.02},
    )
    execution_id = started["execution_id"]
    await live.call("send_message", namespace=namespace, msg_type="scale_workers", body={"count": 1},
                    reason="chaos: free a core for the calibration job")

    async def backlog() -> bool:
        monitor = await live.call("get_workflow_monitor", execution_id=execution_id)
        return (monitor.get("slices") or {}).get("queued", 0) > 4 * max(monitor.get("workers_active") or 1, 1)
    await live.until(f"a slice backlog in {execution_id}", backlog)
    return Injection("operator_scale_down", namespace, execution_id, detail="scale_workers 2 -> 1 by a principal")


async def _parameter_change(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    await _baseline_runs(live, namespace)
    started = await live.call("start_workflow", namespace=namespace, reason="chaos: more STF per run",
                              parameters={"stf_count": 9})
    await _finished(live, started["execution_id"])
    return Injection("parameter_change", namespace, started["execution_id"], detail="stf_count 3 -> 9 between runs")


async def _slow_workers(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    await _baseline_runs(live, namespace, realtime=True, **SLOW_BASE)
    started = await live.call("start_workflow", namespace=namespace, reason="chaos: slow payload", realtime=True,
                              parameters={"stf_count": 3, **SLOW_BASE, "slice_processing_time": 300})
    await _finished(live, started["execution_id"])
    return Injection("slow_workers", namespace, started["execution_id"], how="simulated",
                     detail="the workers' payload takes 10x longer: slice_processing_time 30 -> 300 (real time x0.02)")


async def _one_slice_in_ten_fails(live: LiveUp, namespace: str, **_: Any) -> Injection:
    await testbed_to_break(live, namespace)
    await _baseline_runs(live, namespace, slice_max_retries=0)
    started = await live.call("start_workflow", namespace=namespace, reason="chaos: flaky worker",
                              parameters={"stf_count": 3, "slice_failure_rate": 0.1, "slice_max_retries": 0})
    await _finished(live, started["execution_id"])
    return Injection("one_slice_in_ten_fails", namespace, started["execution_id"], detail="slice_failure_rate 0.1, no retries")


async def _broker_drop_once(live: LiveUp, namespace: str, *, proxy: BrokerProxy | None = None, **_: Any) -> Injection:
    if proxy is None:
        raise ChaosError("broker_drop_once needs the node's broker behind a BrokerProxy (run_extended sets it up)")
    await testbed_to_break(live, namespace)
    before = proxy.accepted
    dropped = await proxy.drop()
    await live.warning_logged(namespace, "")

    # Settled before the debugger looks: every dropped connection is back (the node's and each
    # agent's), not only the first one to notice, and the testbed reads ready.
    async def back() -> bool:
        return proxy.accepted - before >= dropped
    await live.until(f"the {dropped} dropped connections through {proxy.address} to come back", back, timeout_s=60)
    status: dict[str, Any] = {}

    async def ready() -> bool:
        status.update(await live.call("get_testbed_status", namespace=namespace))
        return bool(status.get("ready"))
    await live.until(f"the agents of {namespace} to be ready again", ready, timeout_s=60)
    restarted = [f"{a.get('name')} ({a.get('restarts')} restarts: {a.get('detail')})"
                 for a in status.get("agents") or [] if a.get("restarts")]
    if restarted:  # a crash on a dropped connection is a bug of the bus, not a case for the debugger
        raise ChaosError(f"agents restarted after the broker connection dropped: {'; '.join(restarted)}")
    return Injection("broker_drop_once", namespace, detail=f"every connection through {proxy.address} dropped once")


EXTRA_INJECTORS: dict[ExtraKind, Injector] = {
    "operator_stop_workflow": _operator_stop_workflow,
    "operator_stop_testbed": _operator_stop_testbed,
    "operator_kill_agents": _operator_kill_agents,
    "operator_scale_down": _operator_scale_down,
    "parameter_change": _parameter_change,
    "slow_workers": _slow_workers,
    "one_slice_in_ten_fails": _one_slice_in_ten_fails,
    "broker_drop_once": _broker_drop_once,
}
