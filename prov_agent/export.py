"""Export records as a W3C PROV document (``prov.model.ProvDocument``): PROV-JSON or PROV-N.

Elements declared by several records merge by id (attributes: later wins; an activity's
start is the earliest and its end the latest seen); identical relations are written once.
Export is an offline step: building PROV documents costs far more than capturing records.

>>> # doc = await export_document(store, Scope.parse("execution:stf_datataking-alice-0001"))
>>> # text = serialise(doc, "provn")
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from prov.model import PROV, ProvDocument
from prov.serializers.provjson import ProvJSONEncoder

from prov_agent import ids
from prov_agent.chain import StoredRow
from prov_agent.errors import ExportError
from prov_agent.model import CLASSES
from prov_agent.queries import Scope, select_rows
from prov_agent.store import ProvStore

ExportFormat = Literal["json", "provn"]
FORMATS: tuple[str, ...] = ("json", "provn")


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _merge(
    bodies: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str, str], None], set[str]]:
    """Elements merged by id, relations de-duplicated, and the ids referenced but not declared."""
    elements: dict[str, dict[str, Any]] = {}
    relations: dict[tuple[str, str, str], None] = {}
    for body in bodies:
        for e in body.get("elements", ()):
            have = elements.get(e["id"])
            if have is None:
                elements[e["id"]] = {"class": e["class"], "attrs": dict(e.get("attrs", {})),
                                     "start": e.get("start"), "end": e.get("end")}
                continue
            have["attrs"].update(e.get("attrs", {}))
            if e.get("start") and (have["start"] is None or e["start"] < have["start"]):
                have["start"] = e["start"]
            if e.get("end") and (have["end"] is None or e["end"] > have["end"]):
                have["end"] = e["end"]
        for r in body.get("relations", ()):
            relations[(r["rel"], r["src"], r["dst"])] = None
    referenced = {i for key in relations for i in key[1:]}
    return elements, relations, referenced - elements.keys()


def to_document(rows: Iterable[StoredRow], declarations: Iterable[StoredRow] = ()) -> ProvDocument:
    """Build one PROV document from stored rows (in any order).

    ``declarations``: rows outside the scope whose elements declare ids the scope only refers
    to; only those elements are taken from them (not their relations or other elements).
    """
    return _document(*_merge([json.loads(row.body) for row in rows]), declarations)


async def document_of(store: ProvStore, rows: list[StoredRow]) -> ProvDocument:
    """The document of these rows, with the out-of-scope declarations of ids they refer to."""
    merged = _merge([json.loads(row.body) for row in rows])
    missing = merged[2]
    return _document(*merged, await store.first_declarations(missing) if missing else ())


def _document(
    elements: dict[str, dict[str, Any]],
    relations: dict[tuple[str, str, str], None],
    missing: set[str],
    declarations: Iterable[StoredRow],
) -> ProvDocument:
    for row in declarations:
        for e in json.loads(row.body).get("elements", ()):
            if e["id"] in missing and e["id"] not in elements:
                elements[e["id"]] = {"class": e["class"], "attrs": dict(e.get("attrs", {})),
                                     "start": e.get("start"), "end": e.get("end")}

    doc = ProvDocument()
    doc.add_namespace(ids.PREFIX, ids.NAMESPACE_URI)
    doc.add_namespace(ids.PROV_AGENT_PREFIX, ids.PROV_AGENT_URI)
    for ident, e in elements.items():
        kind, types = CLASSES[e["class"]]
        attrs: list[tuple[Any, Any]] = [(PROV["type"], doc.valid_qualified_name(t)) for t in types]
        attrs.append((f"{ids.PREFIX}:class", e["class"]))
        attrs.extend((f"{ids.PREFIX}:{k}", v) for k, v in sorted(e["attrs"].items()))
        if kind == "entity":
            doc.entity(ident, attrs)
        elif kind == "agent":
            doc.agent(ident, attrs)
        else:
            doc.activity(ident, _time(e["start"]), _time(e["end"]), attrs)
    for rel, src, dst in relations:
        getattr(doc, rel)(src, dst)
    return doc


def serialise(doc: ProvDocument, fmt: str) -> str:
    """PROV-JSON (``json``, compact: one line) or PROV-N (``provn``) text.

    PROV-JSON goes through ``json.dumps`` in one shot, which uses the C encoder; the prov
    library's own ``serialize`` streams through the pure-Python one (over half the export time).
    """
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not supported; choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(doc, cls=ProvJSONEncoder, ensure_ascii=False)
    text = doc.serialize(format=fmt)
    return text if isinstance(text, str) else text.decode("utf-8")


async def export_document(store: ProvStore, scope: Scope) -> ProvDocument:
    """The PROV document of everything in ``scope``."""
    return await document_of(store, await select_rows(store, scope))
