"""`controlroom chaos`: inject one failure class into a running testbed, or run the whole suite.

    controlroom chaos agent_crashed --namespace demo     # into the gateway of ~/.controlroom
    controlroom chaos suite                              # fresh live systems, every class, the table
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from cyclopts import App

app = App(name="chaos", help="Failure injection for the debugging agent's catalog (see docs/debugging.md).")


@app.default
def inject(
    kind: str,
    *,
    namespace: str = "chaos",
    url: str | None = None,
    token: str | None = None,
    state_dir: Path | None = None,
    database_url: str | None = None,
) -> int:
    """Inject one failure class into NAMESPACE on a running gateway and print what was done.

    Parameters
    ----------
    kind: the failure class, e.g. agent_crashed, invalid_parameter, stuck_execution (suite lists all)
    namespace: the namespace to break (its testbed is started when needed)
    url: the gateway's MCP URL (default: from STATE_DIR/connection.json)
    token: the bearer token (default: from STATE_DIR/connection.json)
    state_dir: the state directory of `controlroom up` (default ~/.controlroom)
    database_url: the node's database URL when it is not SQLite in STATE_DIR (database_unavailable, disk_full)
    """
    from agents.ai.connection import default_state_dir, resolve_connection
    from agents.ai.evaluation.chaos import KINDS, ChaosError, LiveUp
    from agents.ai.evaluation.chaos import inject as inject_kind

    if kind not in KINDS:
        print(f"error: kind {kind!r} is not a failure class; use one of: {', '.join(KINDS)} (or `suite`)")
        return 2
    try:
        connection = resolve_connection(url, token, state_dir)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2

    async def run() -> int:
        async with LiveUp.attach(connection.url, connection.token, state_dir or default_state_dir(), database_url) as live:
            injection = await inject_kind(live, kind, namespace)  # type: ignore[arg-type]
        target = f"execution_id={injection.execution_id}" if injection.execution_id else f"namespace={injection.namespace}"
        print(f"injected {kind} ({injection.how}): {injection.detail}")
        print(f"now: debug_execution({target})")
        if injection.undo_steps:
            print("note: this failure stays until you undo it by hand (see docs/debugging.md)")
        return 0

    try:
        return asyncio.run(run())
    except ChaosError as exc:
        print(f"error: {exc}")
        return 1


@app.command
def suite(
    *,
    work_dir: Path | None = None,
    stomp: str | None = "127.0.0.1:61613",
    postgres_url: str | None = None,
    output: Path | None = None,
    extended: bool = True,
    kinds: str | None = None,
) -> int:
    """Inject every failure class into fresh live systems, debug each, print the table; then the
    cases beyond the catalog (operators' actions, degraded runs) with top-1 accuracy, citations
    and wrong actions.

    Parameters
    ----------
    work_dir: where the live systems keep their state (default: a temporary directory)
    stomp: host:port of a STOMP broker for the process-mode classes (broker_unreachable, stuck_execution); "" skips them, and so does a broker that does not answer (the rows say so)
    postgres_url: a PostgreSQL server URL (postgresql+asyncpg://...) for database_unavailable; a scratch database is made and dropped
    output: also write the table to this file
    extended: also run the operator-action and degraded cases and print the scored table
    kinds: only these catalog classes, comma-separated (default: every class)
    """
    from agents.ai.evaluation.chaos import KINDS, broker_answers, render_scored, render_table, run_extended, run_suite, score

    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip()) if kinds else KINDS
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        print(f"error: --kinds: {', '.join(unknown)} not a failure class; use some of: {', '.join(KINDS)}")
        return 2

    broker = None
    if stomp:
        host, _, port = stomp.rpartition(":")
        if not host or not port.isdigit():
            print(f"error: --stomp must be host:port, e.g. 127.0.0.1:61613, got {stomp!r}")
            return 2
        broker = (host, int(port))
    # no broker there: run_suite reports its process-mode classes skipped with the address
    reachable = broker if broker is not None and asyncio.run(broker_answers(broker)) else None
    with tempfile.TemporaryDirectory(prefix="controlroom-chaos-") as scratch:
        rows = asyncio.run(run_suite(work_dir or Path(scratch), kinds=chosen, broker=broker,  # type: ignore[arg-type]
                                     postgres_url=postgres_url))
        beyond = asyncio.run(run_extended((work_dir or Path(scratch)) / "beyond", broker=reachable)) if extended else []
    table = render_table(rows)
    scored = score(rows) + beyond
    table += "\n\n" + render_scored(scored)
    print(table)
    if output is not None:
        output.write_text(table + "\n")
    wrong = any(s.wrong_action for s in scored)
    return 0 if all(r.correct or r.outcome == "skipped" for r in rows) and not wrong else 1
