"""Export records as W3C PROV: PROV-JSON or PROV-N, streamed, or as a ``prov.model.ProvDocument``.

Elements declared by several records merge by id (attributes: later wins; an activity's
start is the earliest and its end the latest seen); identical relations are written once.

:func:`stream_export` is the export for any size: it reads the scope's records in batches,
keeps only the merged statements (plain tuples and the bodies' own attribute dicts, no
``ProvDocument``) and writes the document section by section through a ``write`` callable,
so the text is never whole in memory. It writes what the ``prov`` library's serialisers
write for the same statements (``prov.read`` gives a document equal to :func:`to_document`;
tests/prov_agent/test_export_stream.py compares them). :func:`export_document` builds the
document in memory (small scopes; the MCP tool, tests).

>>> # with open("run.provn", "w") as out:
>>> #     await stream_export(store, Scope.parse("execution:stf_datataking-alice-0001"), "provn", out.write)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

from prov.model import PROV, ProvDocument
from prov.serializers.provjson import ProvJSONEncoder

from prov_agent import ids
from prov_agent.chain import StoredRow
from prov_agent.errors import ExportError
from prov_agent.model import CLASSES
from prov_agent.provtext import Write, check, write_json, write_provn
from prov_agent.queries import Scope, iter_bodies, select_rows
from prov_agent.store import ProvStore

ExportFormat = Literal["json", "provn"]
FORMATS: tuple[str, ...] = ("json", "provn")

# an element as the writers take it: (class, attrs, start, end)
_Element = tuple[str, dict[str, Any], "str | None", "str | None"]
# bodies are stored as compact JSON: no surrounding whitespace for json.loads to look for
_decode = json.JSONDecoder().raw_decode


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Statements:
    """Elements merged by id and relations de-duplicated, fed one record body at a time.

    An element is kept as ``elements[id] = (class, start, end)`` (strings) and its attributes as
    ``attrs[id]`` (the body's own dict of scalars until a second declaration merges them): tuples
    of strings and dicts of scalars are not tracked by the garbage collector, so the merged
    statements of a large export add nothing to the full collections the export triggers (one
    tracked ``[class, attrs, start, end]`` list per element made those ≈ 20% of its CPU).
    """

    def __init__(self) -> None:
        self.elements: dict[str, tuple[str, str | None, str | None]] = {}
        self.attrs: dict[str, dict[str, Any]] = {}
        self.relations: dict[tuple[str, str, str], None] = {}

    def add(self, body: dict[str, Any]) -> None:
        elements, attributes = self.elements, self.attrs
        for e in body.get("elements", ()):
            ident = e["id"]
            have = elements.get(ident)
            if have is None:
                elements[ident] = (e["class"], e.get("start"), e.get("end"))
                attributes[ident] = e.get("attrs") or {}
                continue
            attrs = e.get("attrs")
            if attrs:
                attributes[ident] = {**attributes[ident], **attrs}  # a new dict: the first body's stays as it was
            cls, first, last = have
            start, end = e.get("start"), e.get("end")
            if start and (first is None or start < first):
                first = start
            if end and (last is None or end > last):
                last = end
            if first is not have[1] or last is not have[2]:
                elements[ident] = (cls, first, last)
        relations = self.relations
        for r in body.get("relations", ()):
            relations[(r["rel"], r["src"], r["dst"])] = None

    def items(self) -> Iterator[tuple[str, _Element]]:
        """Each element as ``(id, (class, attrs, start, end))``, in the order first declared."""
        attributes = self.attrs
        for ident, (cls, start, end) in self.elements.items():
            yield ident, (cls, attributes[ident], start, end)

    def missing(self) -> set[str]:
        """Ids the relations refer to that no record in the scope declares."""
        referenced = {i for key in self.relations for i in key[1:]}
        return referenced - self.elements.keys()

    def declare(self, rows: Iterable[StoredRow], missing: set[str]) -> None:
        """Take the elements of ``missing`` ids from out-of-scope ``rows`` (nothing else of them)."""
        for row in rows:
            for e in json.loads(row.body).get("elements", ()):
                if e["id"] in missing and e["id"] not in self.elements:
                    self.elements[e["id"]] = (e["class"], e.get("start"), e.get("end"))
                    self.attrs[e["id"]] = e.get("attrs") or {}


def _merge(rows: Iterable[StoredRow]) -> Statements:
    statements = Statements()
    for row in rows:
        statements.add(_decode(row.body)[0])
    return statements


def to_document(rows: Iterable[StoredRow], declarations: Iterable[StoredRow] = ()) -> ProvDocument:
    """Build one PROV document from stored rows (in any order).

    ``declarations``: rows outside the scope whose elements declare ids the scope only refers
    to; only those elements are taken from them (not their relations or other elements).
    """
    statements = _merge(rows)
    statements.declare(declarations, statements.missing())
    return _document(statements)


async def document_of(store: ProvStore, rows: list[StoredRow]) -> ProvDocument:
    """The document of these rows, with the out-of-scope declarations of ids they refer to."""
    statements = _merge(rows)
    missing = statements.missing()
    if missing:
        statements.declare(await store.first_declarations(missing), missing)
    return _document(statements)


def _document(statements: Statements) -> ProvDocument:
    doc = ProvDocument()
    doc.add_namespace(ids.PREFIX, ids.NAMESPACE_URI)
    doc.add_namespace(ids.PROV_AGENT_PREFIX, ids.PROV_AGENT_URI)
    for ident, (cls, e_attrs, start, end) in statements.items():
        kind, types = CLASSES[cls]
        attrs: list[tuple[Any, Any]] = [(PROV["type"], doc.valid_qualified_name(t)) for t in types]
        attrs.append((f"{ids.PREFIX}:class", cls))
        attrs.extend((f"{ids.PREFIX}:{k}", v) for k, v in sorted(e_attrs.items()))
        if kind == "entity":
            doc.entity(ident, attrs)
        elif kind == "agent":
            doc.agent(ident, attrs)
        else:
            doc.activity(ident, _time(start), _time(end), attrs)
    for rel, src, dst in statements.relations:
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


async def stream_export(store: ProvStore, scope: Scope, fmt: str, write: Write) -> int:
    """Write the PROV document of ``scope`` as ``fmt`` through ``write``, piece by piece; return
    how many records it covers. Reads the scope in batches; only the merged statements are held."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not supported; choose one of {', '.join(FORMATS)}")
    statements = Statements()
    add, decode, count = statements.add, _decode, 0
    async for bodies in iter_bodies(store, scope):
        count += len(bodies)
        for body in bodies:
            add(decode(body)[0])
    missing = statements.missing()
    if missing:
        statements.declare(await store.first_declarations(missing), missing)
    check(statements)
    (write_json if fmt == "json" else write_provn)(statements, write)
    return count


async def export_text(store: ProvStore, rows: list[StoredRow], fmt: str) -> str:
    """The document of these rows (with the out-of-scope declarations they need) as text."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not supported; choose one of {', '.join(FORMATS)}")
    statements = _merge(rows)
    missing = statements.missing()
    if missing:
        statements.declare(await store.first_declarations(missing), missing)
    check(statements)
    out: list[str] = []
    (write_json if fmt == "json" else write_provn)(statements, out.append)
    return "".join(out)


async def export_document(store: ProvStore, scope: Scope) -> ProvDocument:
    """The PROV document of everything in ``scope``."""
    return await document_of(store, await select_rows(store, scope))
