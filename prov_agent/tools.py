"""The provenance MCP tools, as a FastMCP server the gateway mounts in one line.

    gateway.mcp.mount(provenance_tools(lambda: store, namespace_guard=caller), namespace=None)

Tools (all read-only): ``prov_timeline``, ``prov_lineage``, ``prov_agent_activity``,
``prov_export``, ``prov_verify``. Lists paginate as ``{items, total, has_more, next_cursor}``;
bad input becomes a ``ToolError`` naming the argument and the fix.

Namespace isolation: ``namespace_guard`` returns the calling :class:`Caller` (user and granted
namespaces; ``"*"`` = all). A caller who is not an admin sees only: their own principal's
records, executions (and the lineage of things) in their granted namespaces, and their own
share of an agent's activity. Without a guard every caller sees everything (a single-user
setup).

>>> # server = provenance_tools(lambda: store)   # store: the gateway's ProvStore
>>> # async with fastmcp.Client(server) as client:
>>> #     page = await client.call_tool("prov_timeline", {"scope": "principal:alice"})
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from prov_agent import ids
from prov_agent.chain import UP, ChainProblem
from prov_agent.errors import ExportError, InvalidProvInput, ProvError, StoreError
from prov_agent.export import document_of, serialise
from prov_agent.queries import Lineage, RecordView, Scope, lineage, page_rows, select_rows, view
from prov_agent.store import ProvStore

T = TypeVar("T")

#: A document larger than this is refused by prov_export (the CLI writes any size to a file).
MAX_EXPORT_BYTES = 1_000_000
#: Exports over more records than this are refused before the document is built.
MAX_EXPORT_RECORDS = 5_000
MAX_PROBLEMS = 100
_READ_ONLY = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)

INSTRUCTIONS = (
    "PROV-AGENT provenance of this controlroom: every tool call through the gateway, every AI "
    "agent decision and model call, and the executions, runs and files they caused."
)


class Caller(BaseModel):
    """Who is asking: the principal's user and granted namespaces (``"*"`` = all, an admin)."""

    user: str
    namespaces: list[str] = Field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return "*" in self.namespaces


class TimelinePage(BaseModel):
    """A page of records, oldest first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[RecordView]
    total: int
    has_more: bool
    next_cursor: str | None = None


class LineageStep(BaseModel):
    """One record on a lineage path, summarised."""

    record_id: str
    time: datetime
    kind: str
    summary: str


class LineageResult(BaseModel):
    """What led to an entity (upstream) or what came of it (downstream)."""

    entity: str
    direction: Literal["upstream", "downstream"]
    found: bool
    edges: list[dict[str, str]] = Field(description="rel, src, dst, record_id of each edge walked")
    activities: list[str]
    tool_calls: list[str]
    decisions: list[str]
    model_invocations: list[str]
    agents: list[str]
    persons: list[str]
    steps: list[LineageStep] = Field(description="the records on the path, oldest first")


class ExportResult(BaseModel):
    """A PROV document as text."""

    scope: str
    format: Literal["json", "provn"]
    records: int
    bytes: int
    document: str


class VerifyResult(BaseModel):
    """Whether every stream's hash chain holds; each problem names stream, seq and record_id."""

    ok: bool
    streams: int
    records: int
    problems_total: int
    problems: list[ChainProblem] = Field(description=f"the first {MAX_PROBLEMS} problems")


ScopeArg = Annotated[
    str,
    Field(
        description="'principal:USER', 'execution:ID', 'stream:SESSION', 'agent:NAME', "
        "'entity:controlroom:KIND/KEY' or 'all'"
    ),
]
SinceArg = Annotated[str | None, Field(description="ISO-8601, from")]
UntilArg = Annotated[str | None, Field(description="ISO-8601, until")]
LimitArg = Annotated[int, Field(description="page size, max 500")]
CursorArg = Annotated[str | None, Field(description="next_cursor of the previous page")]


def _time(value: str | None, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ToolError(f"{field}: {value!r} is not an ISO 8601 time; write e.g. 2026-11-23T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise ToolError(f"{field}: {value!r} has no time zone; add Z (UTC) or +HH:MM")
    return parsed


def _cursor(value: str | None) -> int:
    if not value:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
        offset = int(number)
        if kind != "o" or offset < 0:
            raise ValueError
    except ValueError:
        raise ToolError("cursor: not a cursor this tool returned; pass next_cursor unchanged, or omit it") from None
    return offset


def _next_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _limit(limit: int) -> int:
    if not 1 <= limit <= 500:
        raise ToolError(f"limit: {limit} is out of range; use 1..500 and page with cursor")
    return limit


async def _guarded(work: Awaitable[T]) -> T:
    """Translate the library's errors into ToolErrors (never a traceback)."""
    try:
        return await work
    except (InvalidProvInput, ExportError) as exc:
        raise ToolError(str(exc)) from None
    except StoreError as exc:
        raise ToolError(f"the provenance store could not answer: {exc}; retry, or check the database") from None
    except ProvError as exc:
        raise ToolError(str(exc)) from None


class _Access:
    """Namespace isolation for one caller (``None`` caller = unrestricted)."""

    def __init__(self, store: ProvStore, caller: Caller | None) -> None:
        self.store, self.caller = store, caller

    @property
    def open(self) -> bool:
        return self.caller is None or self.caller.is_admin

    async def execution_namespaces(self, execution: str) -> set[str]:
        """The namespaces (Campaign ids) that hadMember this execution."""
        target = ids.execution_id(execution)
        # the member end of hadMember is an UP mention: skips the run and file records
        rows = await self.store.records(record_ids=await self.store.mentioning([target], UP))
        prefix = "controlroom:namespace/"
        found: set[str] = set()
        for row in rows:
            for r in json.loads(row.body).get("relations", ()):
                if r["rel"] == "hadMember" and r["dst"] == target and r["src"].startswith(prefix):
                    found.add(r["src"])
        return found

    async def check_scope(self, scope: Scope) -> None:
        if self.open:
            return
        assert self.caller is not None
        own = f"principal:{self.caller.user}"
        if scope.kind == "principal" and scope.value == self.caller.user:
            return
        if scope.kind == "execution" and scope.value:
            granted = {ids.namespace_id(n) for n in self.caller.namespaces}
            if await self.execution_namespaces(scope.value) & granted:
                return
            raise ToolError(
                f"scope: execution {scope.value!r} is not in your namespaces ({', '.join(self.caller.namespaces) or 'none'}); "
                f"ask for an execution in them, or use {own}"
            )
        raise ToolError(
            f"scope: {scope.kind!r} scopes need an admin token; use {own} or execution:ID in your namespaces"
        )

    async def visible_lineage(self, result: Lineage) -> None:
        if self.open or not result.found:
            return
        assert self.caller is not None
        granted = {ids.namespace_id(n) for n in self.caller.namespaces}
        mine = ids.person_id(self.caller.user)
        reached = {e.src for e in result.edges} | {e.dst for e in result.edges}
        if mine in result.persons or reached & granted:
            return
        raise ToolError(
            f"entity: {result.entity} is not in your namespaces and was not made on your behalf; "
            "ask about an entity of your own executions"
        )


def provenance_tools(
    store_provider: Callable[[], ProvStore],
    namespace_guard: Callable[[], Caller] | None = None,
    max_export_records: int = MAX_EXPORT_RECORDS,
    max_export_bytes: int = MAX_EXPORT_BYTES,
) -> FastMCP:
    """A FastMCP server with the provenance tools; ``store_provider`` is asked on every call.

    ``namespace_guard`` returns the calling principal (e.g. built from the gateway's
    ``current_principal()``); leave it None for a single-user setup where all is visible.
    """
    mcp = FastMCP("controlroom-provenance", instructions=INSTRUCTIONS)

    def access() -> _Access:
        return _Access(store_provider(), namespace_guard() if namespace_guard is not None else None)

    async def page(acc: _Access, scope: Scope, limit: int, cursor: str | None, only: set[str] | None = None) -> TimelinePage:
        offset = _cursor(cursor)
        rows, total = await page_rows(acc.store, scope, limit, offset, only)
        after = offset + len(rows)
        more = after < total
        return TimelinePage(
            items=[view(r) for r in rows], total=total, has_more=more, next_cursor=_next_cursor(after) if more else None
        )

    @mcp.tool(annotations=_READ_ONLY)
    async def prov_timeline(
        scope: ScopeArg,
        since: SinceArg = None,
        until: UntilArg = None,
        limit: LimitArg = 50,
        cursor: CursorArg = None,
    ) -> TimelinePage:
        """Provenance records of a scope, oldest first, each with a one-line summary: "what did
        alice do today?". For where a file came from use prov_lineage."""
        acc = access()

        async def work() -> TimelinePage:
            parsed = Scope.parse(scope, _time(since, "since"), _time(until, "until"))
            _limit(limit)
            await acc.check_scope(parsed)
            return await page(acc, parsed, limit, cursor)

        return await _guarded(work())

    @mcp.tool(annotations=_READ_ONLY)
    async def prov_lineage(
        entity: Annotated[
            str,
            Field(
                description="e.g. controlroom:stf/swf.100010.000001.stf, controlroom:run/100010"
            ),
        ],
        direction: Annotated[
            Literal["upstream", "downstream"],
            Field(description="upstream: what led to it; downstream: what came of it"),
        ] = "upstream",
    ) -> LineageResult:
        """Who or what produced a file, run or execution, and why: the run, the tool call, the
        decision, the agent and the person behind it (downstream: what it led to)."""
        acc = access()

        async def work() -> LineageResult:
            if not entity.startswith("controlroom:"):
                raise ToolError(
                    f"entity: {entity!r} is not a provenance id; write controlroom:<kind>/<key>, "
                    "e.g. controlroom:stf/swf.100010.000001.stf (see prov_timeline items for ids)"
                )
            result = await lineage(acc.store, entity, "back" if direction == "upstream" else "forward")
            await acc.visible_lineage(result)
            return LineageResult(
                entity=result.entity,
                direction=direction,
                found=result.found,
                edges=[e.model_dump() for e in result.edges],
                activities=result.activities,
                tool_calls=result.tool_calls,
                decisions=result.decisions,
                model_invocations=result.model_invocations,
                agents=result.agents,
                persons=result.persons,
                steps=[LineageStep(record_id=r.record_id, time=r.time, kind=r.kind, summary=r.summary) for r in result.records],
            )

        return await _guarded(work())

    @mcp.tool(annotations=_READ_ONLY)
    async def prov_agent_activity(
        agent: Annotated[str, Field(description="e.g. claude-code, debugging-agent")],
        since: SinceArg = None,
        until: UntilArg = None,
        limit: LimitArg = 50,
        cursor: CursorArg = None,
    ) -> TimelinePage:
        """What one agent did (tool calls, model invocations, decisions, files), oldest first."""
        acc = access()

        async def work() -> TimelinePage:
            if not agent or "/" in agent or ":" in agent:
                raise ToolError(f"agent: {agent!r} is not an agent name; pass the bare name, e.g. claude-code")
            parsed = Scope(kind="agent", value=agent, since=_time(since, "since"), until=_time(until, "until"))
            _limit(limit)
            only = None
            if not acc.open:
                assert acc.caller is not None
                only = await acc.store.mentioning([ids.person_id(acc.caller.user)])
            return await page(acc, parsed, limit, cursor, only)

        return await _guarded(work())

    @mcp.tool(
        annotations=_READ_ONLY,
        description=(
            f"A scope's W3C PROV document, to archive (up to {max_export_records:,} records; more: "
            "`controlroom prov export`). To read, use prov_timeline."
        ),
    )
    async def prov_export(
        scope: ScopeArg,
        format: Annotated[Literal["json", "provn"], Field(description="PROV-JSON or PROV-N")] = "json",
        since: SinceArg = None,
        until: UntilArg = None,
    ) -> ExportResult:
        acc = access()

        async def work() -> ExportResult:
            parsed = Scope.parse(scope, _time(since, "since"), _time(until, "until"))
            await acc.check_scope(parsed)
            rows = await select_rows(acc.store, parsed)
            cli = f"controlroom prov export --scope {scope} --format {format} -o FILE"
            if len(rows) > max_export_records:
                raise ToolError(
                    f"scope: {scope!r} covers {len(rows):,} records, over this tool's {max_export_records:,}; "
                    f"narrow it with since/until or a smaller scope, or run `{cli}`"
                )
            text = serialise(await document_of(acc.store, rows), format)
            size = len(text.encode("utf-8"))
            if size > max_export_bytes:
                raise ToolError(
                    f"scope: the document is {size:,} bytes, over this tool's {max_export_bytes:,}; "
                    f"narrow it with since/until or a smaller scope, or run `{cli}`"
                )
            return ExportResult(scope=scope, format=format, records=len(rows), bytes=size, document=text)

        return await _guarded(work())

    @mcp.tool(annotations=_READ_ONLY)
    async def prov_verify() -> VerifyResult:
        """Check the provenance hash chains; names each edited, inserted or deleted record."""
        acc = access()

        async def work() -> VerifyResult:
            result = await acc.store.verify()
            return VerifyResult(
                ok=result.ok,
                streams=result.streams,
                records=result.records,
                problems_total=len(result.problems),
                problems=result.problems[:MAX_PROBLEMS],
            )

        return await _guarded(work())

    return mcp
