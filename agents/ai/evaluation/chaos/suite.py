"""The suite: start the live systems each case needs, inject, ask the debugger, undo.

``run_suite`` covers the catalog (one :class:`SuiteRow` per class), ``run_extended`` the cases
beyond it (scored). Embedded cases share one ``controlroom up``; the process-mode ones run on a
second one whose broker sits behind a :class:`BrokerProxy`; ``database_unavailable`` runs on a
node whose store is a scratch PostgreSQL database.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from agents.ai.evaluation.chaos.beyond_catalog_injections import EXTRA_INJECTORS
from agents.ai.evaluation.chaos.broker_proxy import DEFAULT_BROKER, BrokerProxy, broker_answers
from agents.ai.evaluation.chaos.catalog_injections import INJECTORS
from agents.ai.evaluation.chaos.errors import ChaosError
from agents.ai.evaluation.chaos.injection import EXTRA_KINDS, KINDS, Case, ExtraKind, Injector, Kind
from agents.ai.evaluation.chaos.live_up import LiveUp
from agents.ai.evaluation.chaos.postgres_admin import drop_database, scratch_database
from agents.ai.evaluation.chaos.scoring import Scored, SuiteRow, debug_injection, score

_INJECTORS: dict[Case, Injector] = {**INJECTORS, **EXTRA_INJECTORS}
PROCESS_MODE: tuple[Kind, ...] = ("broker_unreachable", "stuck_execution")  # need agent processes and a broker


def _skipped(kind: Case, why: str) -> SuiteRow:
    return SuiteRow(kind, "real", f"skipped: {why}", "-", "skipped", None, None, None)


async def _one(live: LiveUp, kind: Case, **options: Any) -> SuiteRow:
    """Inject ``kind`` into a fresh namespace, debug it, undo it; a failed step is the row's error."""
    namespace = f"chaos-{kind.replace('_', '-')[:30]}-{uuid.uuid4().hex[:4]}"
    try:
        injection = await _INJECTORS[kind](live, namespace, **options)
    except ChaosError as exc:
        return SuiteRow(kind, "real", "not injected", "-", "error", None, None, None, error=str(exc))
    try:
        return await debug_injection(live, injection)
    except ChaosError as exc:
        return SuiteRow(kind, injection.how, "error", "-", "error", None, None, None, error=str(exc))
    finally:
        await injection.undo()


async def run_suite(
    work_dir: Path,
    *,
    kinds: tuple[Kind, ...] = KINDS,
    broker: tuple[str, int] | None = DEFAULT_BROKER,
    postgres_url: str | None = None,
) -> list[SuiteRow]:
    """Inject every class in ``kinds`` into fresh live systems under ``work_dir`` and debug each.

    Embedded classes share one ``controlroom up``; ``broker_unreachable`` and ``stuck_execution``
    run on a second one in process mode behind a :class:`BrokerProxy` (needs ``broker``);
    ``database_unavailable`` needs ``postgres_url`` (a server where a scratch database is made).
    """
    rows: dict[Case, SuiteRow] = {}
    embedded = [k for k in kinds if k not in (*PROCESS_MODE, "database_unavailable")]
    database_url = None
    if postgres_url and "database_unavailable" in kinds:
        database_url = await scratch_database(postgres_url)
    try:
        if embedded or database_url:
            async with LiveUp.start(work_dir / "embedded", database_url=database_url) as live:
                for kind in embedded:
                    rows[kind] = await _one(live, kind)
                if database_url:
                    rows["database_unavailable"] = await _one(live, "database_unavailable")
        process_kinds = [k for k in kinds if k in PROCESS_MODE]
        if process_kinds and broker is not None and not await broker_answers(broker):
            for kind in process_kinds:
                rows[kind] = _skipped(kind, f"no STOMP broker at {broker[0]}:{broker[1]}")
        elif process_kinds and broker is not None:
            async with BrokerProxy(broker) as proxy:
                async with LiveUp.start(work_dir / "process", "--bus", "stomp", "--stomp", proxy.address) as live:
                    for kind in sorted(process_kinds, key=lambda k: k == "broker_unreachable"):  # the cut goes last
                        rows[kind] = await _one(live, kind, proxy=proxy)
    finally:
        if database_url:
            await drop_database(database_url)
    for kind in kinds:
        if kind not in rows:
            rows[kind] = _skipped(kind, "needs postgres_url" if kind == "database_unavailable" else "needs a STOMP broker")
    return [rows[k] for k in kinds]


async def run_extended(
    work_dir: Path, *, kinds: tuple[ExtraKind, ...] = EXTRA_KINDS, broker: tuple[str, int] | None = DEFAULT_BROKER,
) -> list[Scored]:
    """Inject the cases beyond the catalog into fresh live systems and score the debugger on each.

    Embedded cases share one ``controlroom up``; ``broker_drop_once`` runs on a process-mode one
    behind a :class:`BrokerProxy` (skipped without ``broker``).
    """
    rows: dict[Case, SuiteRow] = {}
    embedded = [k for k in kinds if k != "broker_drop_once"]
    if embedded:
        async with LiveUp.start(work_dir / "extended") as live:
            for kind in embedded:
                rows[kind] = await _one(live, kind)
    if "broker_drop_once" in kinds and broker is not None:
        async with BrokerProxy(broker) as proxy:
            async with LiveUp.start(work_dir / "extended-process", "--bus", "stomp", "--stomp", proxy.address) as live:
                rows["broker_drop_once"] = await _one(live, "broker_drop_once", proxy=proxy)
    return score([rows.get(k) or _skipped(k, "needs a STOMP broker") for k in kinds])
