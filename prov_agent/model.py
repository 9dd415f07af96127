"""The PROV-AGENT model: element classes, relations, and the stored record.

A record's body is a small bundle of PROV statements: the elements it declares (each with a
PROV-AGENT class) and the relations it adds between ids. Elements may be declared again by
later records (an agent appears in each of its calls); exports merge them by id.

PROV-AGENT classes and what they are in W3C PROV (``provagent:`` is the PROV-AGENT
vocabulary, ``controlroom:`` our extension):

==================  ==========  ==================================================
class               PROV kind   prov:type values
==================  ==========  ==================================================
AIAgent             agent       provagent:AIAgent, prov:SoftwareAgent
SoftwareAgent       agent       prov:SoftwareAgent (testbed agents, the gateway)
Person              agent       prov:Person (the principal an AI agent acts for)
AgentTool           activity    provagent:AgentTool (one tool call)
AIModelInvocation   activity    provagent:AIModelInvocation
Decision            activity    controlroom:Decision (choosing; informed by calls)
Campaign            activity    provagent:Campaign (a testbed namespace)
Workflow            activity    provagent:Workflow (a workflow execution)
Task                activity    provagent:Task (a run, a processing step)
Prompt              entity      provagent:Prompt, provagent:DataObject
ResponseData        entity      provagent:ResponseData, provagent:DataObject
AIModel             entity      provagent:AIModel
DomainData          entity      provagent:DomainData, provagent:DataObject (STF, TF)
TelemetryData       entity      provagent:TelemetryData, provagent:DataObject
SchedulingData      entity      provagent:SchedulingData, provagent:DataObject
Entity/Activity/    (as named)  none beyond the PROV kind
Agent
==================  ==========  ==================================================

>>> from prov_agent.model import AIAgent, Person, Relation
>>> AIAgent(name="debugger").to_element().id
'controlroom:agent/debugger'
>>> Relation(rel="actedOnBehalfOf", src="controlroom:agent/debugger", dst="controlroom:person/alice").rel
'actedOnBehalfOf'
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prov_agent import ids
from prov_agent.errors import InvalidProvInput

ProvKind = Literal["entity", "activity", "agent"]
ProvClass = Literal[
    "AIAgent",
    "SoftwareAgent",
    "Person",
    "AgentTool",
    "AIModelInvocation",
    "Decision",
    "Campaign",
    "Workflow",
    "Task",
    "Prompt",
    "ResponseData",
    "AIModel",
    "DomainData",
    "TelemetryData",
    "SchedulingData",
    "Entity",
    "Activity",
    "Agent",
]
RelationKind = Literal[
    "used",
    "wasGeneratedBy",
    "wasInformedBy",
    "wasAssociatedWith",
    "wasAttributedTo",
    "actedOnBehalfOf",
    "hadMember",
    "wasDerivedFrom",
]
RecordKind = Literal[
    "tool_call", "gateway_call", "model_invocation", "decision", "workflow_event", "declaration", "note"
]
Outcome = Literal["ok", "is_error", "denied", "timeout", "cancelled", "node_down", "rate_limited"]
AttrValue = str | int | float | bool

#: PROV-AGENT class -> (PROV kind, prov:type values).
CLASSES: dict[str, tuple[ProvKind, tuple[str, ...]]] = {
    "AIAgent": ("agent", ("provagent:AIAgent", "prov:SoftwareAgent")),
    "SoftwareAgent": ("agent", ("prov:SoftwareAgent",)),
    "Person": ("agent", ("prov:Person",)),
    "AgentTool": ("activity", ("provagent:AgentTool",)),
    "AIModelInvocation": ("activity", ("provagent:AIModelInvocation",)),
    "Decision": ("activity", ("controlroom:Decision",)),
    "Campaign": ("activity", ("provagent:Campaign",)),
    "Workflow": ("activity", ("provagent:Workflow",)),
    "Task": ("activity", ("provagent:Task",)),
    "Prompt": ("entity", ("provagent:Prompt", "provagent:DataObject")),
    "ResponseData": ("entity", ("provagent:ResponseData", "provagent:DataObject")),
    "AIModel": ("entity", ("provagent:AIModel",)),
    "DomainData": ("entity", ("provagent:DomainData", "provagent:DataObject")),
    "TelemetryData": ("entity", ("provagent:TelemetryData", "provagent:DataObject")),
    "SchedulingData": ("entity", ("provagent:SchedulingData", "provagent:DataObject")),
    "Entity": ("entity", ()),
    "Activity": ("activity", ()),
    "Agent": ("agent", ()),
}

#: relation -> (PROV kind of its source, PROV kind of its destination); None = not checked.
RELATIONS: dict[str, tuple[ProvKind | None, ProvKind | None]] = {
    "used": ("activity", "entity"),
    "wasGeneratedBy": ("entity", "activity"),
    "wasInformedBy": ("activity", "activity"),
    "wasAssociatedWith": ("activity", "agent"),
    "wasAttributedTo": ("entity", "agent"),
    "actedOnBehalfOf": ("agent", "agent"),
    # PROV-AGENT uses hadMember between activities (Workflow hadMember Task) as well as entities.
    "hadMember": (None, None),
    "wasDerivedFrom": ("entity", "entity"),
}


class Element(BaseModel):
    """One declared PROV element, as stored in a record body."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    cls: ProvClass = Field(alias="class")
    attrs: dict[str, AttrValue] = Field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None

    @field_validator("id")
    @classmethod
    def _qualified(cls, value: str) -> str:
        return ids.check_id(value, "element.id")

    @field_validator("attrs")
    @classmethod
    def _attr_names(cls, value: dict[str, AttrValue]) -> dict[str, AttrValue]:
        for key in value:
            if not key.replace("_", "a").isalnum() or key[0].isdigit():
                raise InvalidProvInput(
                    f"element.attrs.{key}", "is not a plain name", "use letters, digits and _ only"
                )
        return value

    @property
    def kind(self) -> ProvKind:
        return CLASSES[self.cls][0]

    def stored(self) -> dict[str, Any]:
        """The canonical dict form written into a record body."""
        out: dict[str, Any] = {"id": self.id, "class": self.cls, "attrs": dict(self.attrs)}
        if self.start is not None:
            out["start"] = self.start.isoformat()
        if self.end is not None:
            out["end"] = self.end.isoformat()
        return out


class Relation(BaseModel):
    """One PROV relation between two ids (``src`` is the PROV subject, e.g. the generated entity)."""

    model_config = ConfigDict(extra="forbid")

    rel: RelationKind
    src: str
    dst: str

    @field_validator("src", "dst")
    @classmethod
    def _qualified(cls, value: str) -> str:
        return ids.check_id(value, "relation.src/dst")

    def stored(self) -> dict[str, Any]:
        return {"rel": self.rel, "src": self.src, "dst": self.dst}


class RecordBody(BaseModel):
    """The statements one record adds; relations between elements declared here are kind-checked."""

    model_config = ConfigDict(extra="forbid")

    elements: list[Element] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    event: str | None = None
    unserialisable: str | None = None

    @model_validator(mode="after")
    def _kinds_match(self) -> RecordBody:
        kinds = {e.id: e.kind for e in self.elements}
        for i, r in enumerate(self.relations):
            want_src, want_dst = RELATIONS[r.rel]
            for end, want, ident in (("src", want_src, r.src), ("dst", want_dst, r.dst)):
                have = kinds.get(ident)
                if want is not None and have is not None and have != want:
                    raise InvalidProvInput(
                        f"relations[{i}].{end}",
                        f"{r.rel} needs an {want} there but {ident} is declared as an {have}",
                        "swap src/dst or pick the relation that fits (see prov_agent.model.RELATIONS)",
                    )
        return self

    def stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "elements": [e.stored() for e in self.elements],
            "relations": [r.stored() for r in self.relations],
        }
        if self.event is not None:
            out["event"] = self.event
        return out

    def mentioned_ids(self) -> set[str]:
        found = {e.id for e in self.elements}
        for r in self.relations:
            found.add(r.src)
            found.add(r.dst)
        return found


class ProvRecord(BaseModel):
    """One stored, hash-chained record (read back from the store)."""

    record_id: str
    stream: str
    seq: int
    kind: RecordKind
    time: datetime
    body: RecordBody
    prev_hash: str
    hash: str


# --- typed element builders: one per PROV-AGENT class with its own fields -------------------


class _Typed(BaseModel):
    """Base of the typed builders: a class's own fields, turned into a stored :class:`Element`.

    Subclasses set ``prov_class`` and implement ``element_id``; every other field becomes an
    attribute (``None`` values are left out).

    >>> Person(user="alice").to_element().cls
    'Person'
    """

    model_config = ConfigDict(extra="forbid")
    prov_class: ClassVar[str] = "Entity"
    _id_fields: ClassVar[frozenset[str]] = frozenset()

    def element_id(self) -> str:
        raise NotImplementedError

    def attributes(self) -> dict[str, AttrValue]:
        out: dict[str, AttrValue] = {}
        for key, value in self.__dict__.items():
            if value is None or key.startswith("_"):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, list | tuple | dict):
                value = json.dumps(value, sort_keys=True, ensure_ascii=False)
            out[key] = value
        return out

    def to_element(self, start: datetime | None = None, end: datetime | None = None) -> Element:
        return Element(id=self.element_id(), cls=self.prov_class, attrs=self.attributes(), start=start, end=end)


class AIAgent(_Typed):
    """An AI agent (prov:SoftwareAgent): Claude Code, our debugging agent, the chat agent."""

    prov_class: ClassVar[str] = "AIAgent"
    name: str
    version: str | None = None

    def element_id(self) -> str:
        return ids.agent_id(self.name)


class SoftwareAgent(_Typed):
    """A non-AI software agent: a testbed agent, the gateway, a node."""

    prov_class: ClassVar[str] = "SoftwareAgent"
    name: str
    agent_type: str | None = None

    def element_id(self) -> str:
        return ids.agent_id(self.name)


class Person(_Typed):
    """The human principal an AI agent acts on behalf of."""

    prov_class: ClassVar[str] = "Person"
    user: str

    def element_id(self) -> str:
        return ids.person_id(self.user)


class AIModel(_Typed):
    """The model an invocation used (entity)."""

    prov_class: ClassVar[str] = "AIModel"
    name: str
    provider: str | None = None

    def element_id(self) -> str:
        return ids.model_id(self.name)


class Decision(_Typed):
    """An agent's choice: what was chosen, why, and what else was considered."""

    prov_class: ClassVar[str] = "Decision"
    uid: str
    chosen: str
    rationale: str
    alternatives: list[str] = Field(default_factory=list)

    def element_id(self) -> str:
        return ids.decision_id(self.uid)


class Campaign(_Typed):
    """A testbed namespace: the campaign its executions belong to."""

    prov_class: ClassVar[str] = "Campaign"
    namespace: str

    def element_id(self) -> str:
        return ids.namespace_id(self.namespace)


class Workflow(_Typed):
    """A workflow execution (``{workflow}-{user}-{NNNN}``)."""

    prov_class: ClassVar[str] = "Workflow"
    execution_id: str
    workflow: str | None = None
    status: str | None = None

    def element_id(self) -> str:
        return ids.execution_id(self.execution_id)


class Task(_Typed):
    """A run of a workflow (or another task of it)."""

    prov_class: ClassVar[str] = "Task"
    run_number: int

    def element_id(self) -> str:
        return ids.run_id(self.run_number)


class DomainData(_Typed):
    """Scientific data: an STF file, a TF sample, a TF slice."""

    prov_class: ClassVar[str] = "DomainData"
    data_kind: Literal["stf", "tf", "slice", "data"]
    name: str
    size_bytes: int | None = None
    checksum: str | None = None

    def element_id(self) -> str:
        return ids.make_id(self.data_kind, self.name)
