"""``controlroom workflow``: run a workflow on a complete in-process testbed, list and show executions.

``controlroom workflow run stf_datataking --config fast_processing_default --stf-count 10`` starts
every agent of the testbed in this process (embedded bus, SQLite under ``--state-dir``, default
``~/.controlroom``), runs the workflow, shows a progress bar (STFs and slices) and prints a
summary. ``list`` and ``show`` read the executions stored in the same state directory.
A bad config or parameter prints one line ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

from cyclopts import App, Parameter

app = App(name="workflow", help="Run workflows on an in-process testbed; list and show executions.")
app.command("agents.testbed.stats_cli:stats", name="stats",
            help="Print an execution's characterization (the web monitor's table), read through the gateway.")

DEFAULT_STATE_DIR = Path("~/.controlroom")
EXIT_BAD_INPUT = 2


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict; values are read as JSON when they parse (numbers, booleans), else text."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {item!r}: use key=value, e.g. --param stf_interval=1.5")
        try:
            params[key.strip()] = json.loads(raw)
        except ValueError:
            params[key.strip()] = raw
    return params


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


@app.command
def run(
    workflow: Annotated[str, Parameter(help="Workflow definition, e.g. stf_datataking.")] = "stf_datataking",
    *,
    config: Annotated[str, Parameter(help="Workflow config (TOML, with or without .toml).")] = "fast_processing_default",
    stf_count: Annotated[int | None, Parameter(help="End the run after exactly this many STFs.")] = None,
    realtime: Annotated[bool, Parameter(help="Pace the simulation by the wall clock.")] = False,
    realtime_factor: Annotated[float | None, Parameter(help="Wall seconds per simulated second in real time.")] = None,
    namespace: Annotated[str, Parameter(help="Namespace of the testbed.")] = "default",
    state_dir: Annotated[Path, Parameter(help="Where the SQLite store lives.")] = DEFAULT_STATE_DIR,
    param: Annotated[list[str] | None, Parameter(help="Parameter override key=value (repeatable).")] = None,
    timeout: Annotated[float, Parameter(help="Give up waiting after this many seconds.")] = 3600.0,
) -> int:
    """Run a workflow on a complete in-process testbed and print a summary."""
    try:
        params = parse_params(param or [])
    except ValueError as exc:
        return _fail(str(exc))
    if stf_count is not None:
        params["stf_count"] = stf_count
    if realtime_factor is not None:
        params["realtime_factor"] = realtime_factor
    logging.getLogger("controlroom").addHandler(logging.NullHandler())
    logging.getLogger("controlroom").propagate = False
    return asyncio.run(_run(workflow, config, params, realtime, namespace, state_dir.expanduser(), timeout))


async def _run(workflow: str, config: str, params: dict[str, Any], realtime: bool, namespace: str,
               state_dir: Path, timeout: float) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agents.testbed.bus.url import EMBEDDED, bus_from_url
    from agents.testbed.errors import TestbedError
    from agents.testbed.framework.status import ExecutionProgress
    from agents.testbed.testbed import TestbedManager
    from workflows.store.database import default_url
    from workflows.store.store import open_store

    console = Console()
    state_dir.mkdir(parents=True, exist_ok=True)
    async with open_store(default_url(state_dir)) as store:
        async with TestbedManager(store=store, bus_factory=lambda: bus_from_url(EMBEDDED), mode="inprocess", node_name="cli",
                                  heartbeat_interval_s=30.0) as manager:
            try:
                await manager.start_testbed(namespace, started_by=getpass.getuser(), reason="controlroom workflow run")
                record = await manager.start_workflow(namespace, workflow, config, params, realtime,
                                                      executed_by=getpass.getuser(), reason="controlroom workflow run")
            except TestbedError as exc:
                return _fail(str(exc))
            per_sample = int(record.parameters.get("slices_per_sample", 0) or 0)
            expected = int(record.parameters.get("stf_count", 0) or 0) or None
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, transient=False) as bar:
                stfs = bar.add_task("STFs  ", total=expected)
                slices = bar.add_task("slices", total=expected * per_sample if expected and per_sample else None)

                async def on_progress(p: ExecutionProgress) -> None:
                    bar.update(stfs, completed=p.stf_count, description=f"STFs   [{p.phase or p.status}]")
                    bar.update(slices, completed=p.slices.get("done", 0) + p.slices.get("failed", 0))

                record = await manager.wait_for_execution(record.execution_id, timeout, on_progress)
            monitor = await manager.monitor(record.execution_id)
    console.print(f"execution   {monitor.execution_id}  [bold]{monitor.status}[/bold]")
    console.print(f"run number  {monitor.run_number} ({monitor.run_status})")
    console.print(f"STFs        {monitor.stf_count}   TF samples {monitor.tf_samples}")
    console.print(f"slices      done {monitor.slices.get('done', 0)}  failed {monitor.slices.get('failed', 0)}"
                  f"  queued {monitor.slices.get('queued', 0)}")
    if monitor.slice_latency_p50_ms is not None:
        console.print(f"latency     p50 {monitor.slice_latency_p50_ms:.1f} ms  p99 {monitor.slice_latency_p99_ms:.1f} ms")
    console.print(f"duration    {monitor.duration_s:.2f} s")
    if monitor.error:
        console.print(f"error       {monitor.error}")
    return 0 if monitor.status == "completed" else 1


@app.command(name="list")
def list_(
    *,
    namespace: Annotated[str | None, Parameter(help="Only this namespace.")] = None,
    status: Annotated[str | None, Parameter(help="Only this status (pending, running, completed, failed, terminated).")] = None,
    limit: Annotated[int, Parameter(help="At most this many (max 200).")] = 20,
    state_dir: Annotated[Path, Parameter(help="Where the SQLite store lives.")] = DEFAULT_STATE_DIR,
) -> int:
    """List stored executions, newest first."""
    return asyncio.run(_list(namespace, status, limit, state_dir.expanduser()))


async def _list(namespace: str | None, status: str | None, limit: int, state_dir: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    from workflows.store.database import default_url
    from workflows.store.errors import StoreError
    from workflows.store.store import open_store

    if not (state_dir / "controlroom.db").exists():
        print(f"no executions yet (no store in {state_dir})")
        return 0
    async with open_store(default_url(state_dir)) as store:
        try:
            page = await store.executions.list(namespace=namespace, status=status, limit=limit)  # type: ignore[arg-type]
        except StoreError as exc:
            return _fail(str(exc))
    table = Table("execution", "namespace", "status", "run", "STFs", "started", "error")
    for r in page.items:
        table.add_row(r.execution_id, r.namespace, r.status, str(r.run_number or ""), str(r.stf_count),
                      r.start_time.strftime("%Y-%m-%d %H:%M:%S"), (r.error or "")[:60])
    Console().print(table)
    print(f"{len(page.items)} of {page.total}{'+' if page.total_is_lower_bound else ''}")
    return 0


@app.command
def show(
    execution_id: Annotated[str, Parameter(help="The execution id, e.g. stf_datataking-alice-0001.")],
    *,
    state_dir: Annotated[Path, Parameter(help="Where the SQLite store lives.")] = DEFAULT_STATE_DIR,
) -> int:
    """Show one execution: status, run, counts, latency, parameters (JSON)."""
    return asyncio.run(_show(execution_id, state_dir.expanduser()))


async def _show(execution_id: str, state_dir: Path) -> int:
    from agents.testbed.bus.url import EMBEDDED, bus_from_url
    from agents.testbed.errors import TestbedError
    from agents.testbed.testbed import TestbedManager
    from workflows.store.database import default_url
    from workflows.store.store import open_store

    if not (state_dir / "controlroom.db").exists():
        return _fail(f"execution_id {execution_id!r}: no store in {state_dir}; pass --state-dir")
    async with open_store(default_url(state_dir)) as store:
        manager = TestbedManager(store=store, bus_factory=lambda: bus_from_url(EMBEDDED), mode="inprocess", node_name="cli")
        try:
            monitor = await manager.monitor(execution_id)
        except TestbedError as exc:
            return _fail(str(exc))
    print(monitor.model_dump_json(indent=2, exclude={"recent_events"}))
    return 0
