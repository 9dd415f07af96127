"""``controlroom prov``: timeline, lineage, export and verify over the provenance store.

Every command takes ``--database-url URL`` (SQLite or PostgreSQL, async driver) or
``--state-dir DIR`` (default ``~/.controlroom``; the store is ``DIR/controlroom.db``, the same
file the rest of the system uses). ``verify`` exits 1 and names each broken record.

    controlroom prov verify --state-dir ~/.controlroom
    controlroom prov lineage controlroom:stf/swf.100010.000001.stf
    controlroom prov export --scope execution:stf_datataking-alice-0001 --format provn -o run.provn
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from cyclopts import App, Parameter

from prov_agent.errors import ProvError

T = TypeVar("T")

app = App(name="prov", help="PROV-AGENT provenance: timelines, lineage, PROV export, chain verification.")

DatabaseUrl = Annotated[str | None, Parameter(help="SQLAlchemy async URL (sqlite+aiosqlite:///..., postgresql+asyncpg://...).")]
StateDir = Annotated[Path | None, Parameter(help="State directory holding controlroom.db (default ~/.controlroom).")]
ScopeText = Annotated[
    str, Parameter(help="all | stream:ID | principal:USER | agent:NAME | execution:ID | entity:controlroom:...")
]


def _run(database_url: str | None, state_dir: Path | None, work: Callable[..., Awaitable[T]]) -> T:
    from prov_agent.store import ProvStore, engine_for

    async def main() -> T:
        engine = engine_for(database_url, state_dir)
        try:
            store = ProvStore(engine)
            await store.create_schema()
            return await work(store)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _fail(exc: ProvError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


@app.command
def timeline(
    scope: ScopeText = "all",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
    as_json: Annotated[bool, Parameter(name="--json")] = False,
    database_url: DatabaseUrl = None,
    state_dir: StateDir = None,
) -> int:
    """Records of a session (stream), principal, agent, execution or entity, oldest first."""
    from prov_agent.queries import Scope, timeline as query

    try:
        page = _run(database_url, state_dir, lambda s: query(s, Scope.parse(scope, since, until), limit=limit))
    except ProvError as exc:
        return _fail(exc)
    if as_json:
        print(page.model_dump_json(indent=2))
        return 0
    for item in page.items:
        print(f"{item.time.isoformat()}  {item.stream}#{item.seq}  {item.kind:<16} {item.summary}")
    print(f"{len(page.items)} of {page.total} records" + (" (more: raise --limit)" if page.has_more else ""))
    return 0


@app.command
def lineage(
    entity: str,
    *,
    as_json: Annotated[bool, Parameter(name="--json")] = False,
    database_url: DatabaseUrl = None,
    state_dir: StateDir = None,
) -> int:
    """What produced ENTITY (a qualified id) and which calls, decisions, agents and persons led there."""
    from prov_agent.queries import lineage as query

    try:
        result = _run(database_url, state_dir, lambda s: query(s, entity))
    except ProvError as exc:
        return _fail(exc)
    if as_json:
        print(result.model_dump_json(indent=2))
        return 0 if result.found else 1
    if not result.found:
        print(f"no provenance recorded for {entity}", file=sys.stderr)
        return 1
    for e in result.edges:
        print(f"{e.src}  --{e.rel}-->  {e.dst}")
    for label, values in (
        ("tool calls", result.tool_calls),
        ("decisions", result.decisions),
        ("model invocations", result.model_invocations),
        ("agents", result.agents),
        ("persons", result.persons),
    ):
        print(f"{label}: {', '.join(values) or '-'}")
    return 0


@app.command
def export(
    *,
    scope: ScopeText = "all",
    format: Literal["json", "provn"] = "json",
    output: Annotated[Path | None, Parameter(name=["-o", "--output"], help="File to write (default stdout).")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    database_url: DatabaseUrl = None,
    state_dir: StateDir = None,
) -> int:
    """Write the PROV document of a scope as PROV-JSON or PROV-N (streamed: any size)."""
    from prov_agent.export import stream_export
    from prov_agent.queries import Scope

    try:
        parsed = Scope.parse(scope, since, until)
    except ProvError as exc:
        return _fail(exc)
    sink = sys.stdout if output is None else output.open("w", encoding="utf-8")
    try:
        count = _run(database_url, state_dir, lambda store: stream_export(store, parsed, format, sink.write))
        if output is None:
            sink.write("\n")
    except ProvError as exc:
        return _fail(exc)
    finally:
        if output is not None:
            sink.close()
    if output is not None:
        print(f"wrote {output} ({output.stat().st_size:,} bytes, {count:,} records)", file=sys.stderr)
    return 0


@app.command
def verify(*, database_url: DatabaseUrl = None, state_dir: StateDir = None) -> int:
    """Check every stream's hash chain; exit 1 naming each edited, inserted or deleted record."""
    try:
        result = _run(database_url, state_dir, lambda s: s.verify())
    except ProvError as exc:
        return _fail(exc)
    for p in result.problems:
        print(f"BROKEN stream={p.stream} seq={p.seq} record_id={p.record_id}: {p.problem}")
    status = "ok" if result.ok else f"{len(result.problems)} problem(s)"
    print(f"verified {result.records} records in {result.streams} streams: {status}")
    return 0 if result.ok else 1
