"""Questions asked of the provenance store: timelines, lineage, what an agent did, export scopes.

Results are pydantic models (lists paginate as ``items, total, has_more``). Lineage walks
relations backwards from an entity (what generated it, what informed that, who was
associated, on whose behalf) using the store's role-tagged mentions, so it reads only the
records on the path. Agents, persons, models and namespaces are hubs: they are reported but
not expanded (expanding an agent would pull in everything it ever did); the person behind an
agent is taken from the same record that associates the agent with the activity, so lineage
names the principal of THAT call.

>>> Scope.parse("execution:stf_datataking-alice-0001").target()
'controlroom:execution/stf_datataking-alice-0001'
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from prov_agent import ids
from prov_agent.chain import DOWN, UP, StoredRow, parse_time, time_text
from prov_agent.errors import InvalidProvInput
from prov_agent.model import CLASSES, Element, RecordBody, Relation
from prov_agent.store import ProvStore

ScopeKind = Literal["all", "stream", "principal", "agent", "execution", "entity"]
_HUBS = {"AIAgent", "SoftwareAgent", "Person", "Agent", "AIModel", "Campaign"}
_MAX_WALK = 200_000


class Scope(BaseModel):
    """Which records a timeline or export covers; ``since``/``until`` narrow any scope."""

    kind: ScopeKind = "all"
    value: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, text: str, since: datetime | None = None, until: datetime | None = None) -> Scope:
        """``all``, ``stream:ID``, ``principal:USER``, ``agent:NAME``, ``execution:ID``, ``entity:QNAME``."""
        kind, _, value = text.partition(":")
        if kind not in ("all", "stream", "principal", "agent", "execution", "entity"):
            raise InvalidProvInput(
                "scope",
                f"{text!r} has an unknown kind {kind!r}",
                "use all, stream:ID, principal:USER, agent:NAME, execution:ID or entity:controlroom:...",
            )
        if kind != "all" and not value:
            raise InvalidProvInput("scope", f"{text!r} names no {kind}", f"write {kind}:<value>")
        return cls(kind=kind, value=value or None, since=since, until=until)  # type: ignore[arg-type]

    def target(self) -> str | None:
        """The element id this scope is about (None for all/stream)."""
        if self.kind in ("all", "stream") or self.value is None:
            return None
        if self.kind == "principal":
            return ids.person_id(self.value)
        if self.kind == "agent":
            return ids.agent_id(self.value)
        if self.kind == "execution":
            return ids.execution_id(self.value)
        return ids.check_id(self.value, "scope.entity")

    def bounds(self) -> tuple[str | None, str | None]:
        return (
            time_text(self.since.timestamp()) if self.since else None,
            time_text(self.until.timestamp()) if self.until else None,
        )


class RecordView(BaseModel):
    """One record as queries return it, with a one-line summary."""

    record_id: str
    stream: str
    seq: int
    kind: str
    time: datetime
    summary: str
    elements: list[Element]
    relations: list[Relation]


class RecordPage(BaseModel):
    items: list[RecordView]
    total: int
    has_more: bool


class LineageEdge(BaseModel):
    rel: str
    src: str
    dst: str
    record_id: str


class Lineage(BaseModel):
    """How an entity came to be: the edges walked backwards and who/what was involved."""

    entity: str
    found: bool
    edges: list[LineageEdge]
    activities: list[str]
    tool_calls: list[str]
    decisions: list[str]
    model_invocations: list[str]
    agents: list[str]
    persons: list[str]
    records: list[RecordView]


def view(row: StoredRow) -> RecordView:
    """A stored row parsed into a :class:`RecordView`."""
    body = RecordBody.model_validate(json.loads(row.body))
    return RecordView(
        record_id=row.record_id,
        stream=row.stream,
        seq=row.seq,
        kind=row.kind,
        time=parse_time(row.time),
        summary=summarise(row.kind, body),
        elements=body.elements,
        relations=body.relations,
    )


def summarise(kind: str, body: RecordBody) -> str:
    by_class = {e.cls: e for e in body.elements}
    names = {e.id: e.id.rsplit("/", 1)[-1] for e in body.elements}
    # agents and persons may be declared in an earlier record: name them from the relations too
    agent = next((names[e.id] for e in body.elements if e.cls in ("AIAgent", "SoftwareAgent")), None)
    agent = agent or next((_local(r.dst) for r in body.relations if r.rel == "wasAssociatedWith"), "?")
    person = next((names[e.id] for e in body.elements if e.cls == "Person"), None)
    person = person or next((_local(r.dst) for r in body.relations if r.rel == "actedOnBehalfOf"), None)
    if "AgentTool" in by_class:
        a = by_class["AgentTool"].attrs
        who = f"{agent} for {person}" if person else agent
        node = f" on {a['node']}" if "node" in a else ""
        return f"{a.get('tool')} by {who}{node} -> {a.get('outcome')} ({a.get('duration_ms')} ms)"
    if "AIModelInvocation" in by_class:
        a = by_class["AIModelInvocation"].attrs
        model = next((names[e.id] for e in body.elements if e.cls == "AIModel"), "?")
        return f"{agent} asked {model} ({a.get('latency_ms')} ms, {a.get('tokens_in')}/{a.get('tokens_out')} tokens)"
    if "Decision" in by_class:
        a = by_class["Decision"].attrs
        return f"{agent} chose {a.get('chosen')!s}: {a.get('rationale')!s}"
    if body.event:
        main = body.elements[-1].id if body.elements else "?"
        return f"{body.event} {main}"
    return f"{kind}: {len(body.elements)} elements, {len(body.relations)} relations"


async def scope_record_ids(store: ProvStore, scope: Scope) -> set[str]:
    """Ids of the records of an element scope (principal, agent, execution, entity)."""
    target = scope.target()
    if target is None:
        raise InvalidProvInput("scope", f"{scope.kind!r} is not about one element", "use principal:, agent:, execution: or entity:")
    if scope.kind == "execution":
        back = await _walk(store, target, "back")
        fwd = await _walk(store, target, "forward")
        return set(back[0]) | set(fwd[0]) | await store.mentioning([target])
    return await store.mentioning([target])


async def select_rows(store: ProvStore, scope: Scope) -> list[StoredRow]:
    """Every record in a scope, ordered by time (exports and timelines use this)."""
    since, until = scope.bounds()
    if scope.kind == "all":
        return await store.records(since=since, until=until)
    if scope.kind == "stream":
        return await store.records(stream=scope.value, since=since, until=until)
    return await store.records(record_ids=await scope_record_ids(store, scope), since=since, until=until)


async def iter_bodies(store: ProvStore, scope: Scope, batch: int = 5000) -> AsyncIterator[list[str]]:
    """The record bodies of a scope in the order of :func:`select_rows`, a list of up to ``batch``
    at a time (streamed exports use this: the scope's bodies are never all in memory at once)."""
    since, until = scope.bounds()
    if scope.kind in ("all", "stream"):
        stream = scope.value if scope.kind == "stream" else None
        async for bodies in store.stream_bodies(stream=stream, since=since, until=until, batch=batch):
            yield bodies
        return
    keys = await store.record_keys(await scope_record_ids(store, scope), since, until)
    for start in range(0, len(keys), batch):
        yield [row.body for row in await store.records(record_ids=[k[3] for k in keys[start : start + batch]])]


async def page_rows(
    store: ProvStore, scope: Scope, limit: int, offset: int = 0, only: set[str] | None = None
) -> tuple[list[StoredRow], int]:
    """One page of a scope's records (oldest first) and the scope's total, reading only the
    page's bodies; ``only`` keeps just those record ids (access control)."""
    since, until = scope.bounds()
    if scope.kind in ("all", "stream") and only is None:
        stream = scope.value if scope.kind == "stream" else None
        total = await store.count(stream=stream, since=since, until=until)
        rows = await store.records(stream=stream, since=since, until=until, limit=limit, offset=offset)
        return rows, total
    if scope.kind in ("all", "stream"):
        wanted = set(only or ())
    else:
        wanted = await scope_record_ids(store, scope)
        if only is not None:
            wanted &= only
    keys = await store.record_keys(wanted, since, until)
    if scope.kind == "stream":
        keys = [k for k in keys if k[1] == scope.value]
    chosen = [k[3] for k in keys[offset : offset + limit]]
    return (await store.records(record_ids=chosen) if chosen else []), len(keys)


async def timeline(store: ProvStore, scope: Scope, limit: int = 200, offset: int = 0) -> RecordPage:
    """Records of a session (stream), principal, agent, execution or entity, oldest first."""
    if not 1 <= limit <= 10_000:
        raise InvalidProvInput("limit", f"{limit} is out of range", "use 1..10000")
    rows, total = await page_rows(store, scope, limit, offset)
    return RecordPage(items=[view(r) for r in rows], total=total, has_more=offset + len(rows) < total)


async def agent_activity(store: ProvStore, agent: str, limit: int = 200, offset: int = 0) -> RecordPage:
    """What an agent did (every record naming it), oldest first."""
    return await timeline(store, Scope(kind="agent", value=agent), limit, offset)


async def lineage(store: ProvStore, entity: str, direction: Literal["back", "forward"] = "back") -> Lineage:
    """Walk backwards from an entity id to the activities, decisions, agents and persons behind it
    (``direction="forward"``: what came of it instead: the runs, files and slices it led to)."""
    ids.check_id(entity, "entity")
    rows, edges = await _walk(store, entity, direction)
    classes: dict[str, str] = {}
    views = sorted((view(r) for r in rows.values()), key=lambda v: (v.time, v.stream, v.seq))
    for v in views:
        for e in v.elements:
            classes.setdefault(e.id, e.cls)
    reached = {entity} | {e.dst for e in edges} | {e.src for e in edges}
    for i in reached:  # declared in an earlier record (the gateway declares agents once per stream)
        if i not in classes and (guess := class_by_prefix(i)) is not None:
            classes[i] = guess

    def of(*wanted: str) -> list[str]:
        return sorted(i for i in reached if classes.get(i) in wanted)

    return Lineage(
        entity=entity,
        found=bool(rows),
        edges=edges,
        activities=sorted(i for i in reached if CLASSES.get(classes.get(i, ""), ("",))[0] == "activity"),
        tool_calls=of("AgentTool"),
        decisions=of("Decision"),
        model_invocations=of("AIModelInvocation"),
        agents=of("AIAgent", "SoftwareAgent", "Agent"),
        persons=of("Person"),
        records=views,
    )


async def _walk(
    store: ProvStore, start: str, direction: Literal["back", "forward"]
) -> tuple[dict[str, StoredRow], list[LineageEdge]]:
    """Breadth-first over relations; returns the records read and the edges followed."""
    role = UP if direction == "back" else DOWN
    loaded: dict[str, StoredRow] = {}
    bodies: dict[str, RecordBody] = {}
    edges: list[LineageEdge] = []
    edge_keys: set[tuple[str, str, str]] = set()

    def edge(rel: str, src: str, dst: str, rid: str) -> None:
        if (rel, src, dst) not in edge_keys:
            edge_keys.add((rel, src, dst))
            edges.append(LineageEdge(rel=rel, src=src, dst=dst, record_id=rid))

    seen = {start}
    frontier = {start}
    classes: dict[str, str] = {}
    while frontier and len(loaded) < _MAX_WALK:
        # a record read for an earlier frontier may hold edges of this one: walk all, read new only
        record_ids = await store.mentioning(frontier, role)
        rows = await store.records(record_ids=record_ids - loaded.keys())
        for row in rows:
            loaded[row.record_id] = row
            bodies[row.record_id] = body = RecordBody.model_validate(json.loads(row.body))
            for e in body.elements:
                classes.setdefault(e.id, e.cls)
        following: set[str] = set()
        for rid in record_ids:
            body = bodies[rid]
            for r in body.relations:
                if direction == "back":
                    here, there = (r.dst, r.src) if r.rel == "hadMember" else (r.src, r.dst)
                else:
                    here, there = (r.src, r.dst) if r.rel == "hadMember" else (r.dst, r.src)
                if here not in frontier or r.rel == "actedOnBehalfOf":
                    continue
                edge(r.rel, r.src, r.dst, rid)
                if direction == "back" and r.rel == "wasAssociatedWith":
                    # the principal of THIS activity: delegation stated in the same record
                    for d in body.relations:
                        if d.rel == "actedOnBehalfOf" and d.src == there:
                            edge(d.rel, d.src, d.dst, rid)
                            seen.add(d.dst)
                if there in seen:
                    continue
                seen.add(there)
                if classes.get(there) not in _HUBS and not _looks_like_hub(there):
                    following.add(there)
        frontier = following
    return loaded, edges


def _local(ident: str) -> str:
    return ident.rsplit("/", 1)[-1]


def class_by_prefix(ident: str) -> str | None:
    """The class an undeclared hub id must have, from its prefix (agents, persons, models)."""
    if ident.startswith("controlroom:agent/"):
        return "Agent"
    if ident.startswith("controlroom:person/"):
        return "Person"
    if ident.startswith("controlroom:model/"):
        return "AIModel"
    return None


def _looks_like_hub(ident: str) -> bool:
    return ident.startswith(("controlroom:agent/", "controlroom:person/", "controlroom:model/", "controlroom:namespace/"))
