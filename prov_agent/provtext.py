"""PROV-JSON and PROV-N text of merged statements, written piece by piece.

The text is what the ``prov`` library's serialisers write for the same document (values are
encoded by its own functions: ``encode_json_representation``, ``encoding_provn_value``), but
without building a ``ProvDocument``: elements and relations are formatted straight from the
merged statements and handed to ``write`` in pieces of about ``_PIECE`` statements.

>>> from prov_agent.export import Statements
>>> s = Statements()
>>> s.add({"elements": [{"id": "controlroom:person/alice", "class": "Person", "attrs": {"user": "alice"}}],
...        "relations": []})
>>> out = []
>>> write_provn(s, out.append)
>>> print("".join(out).splitlines()[4])
  agent(controlroom:person/alice, [prov:type='prov:Person', controlroom:class="Person", controlroom:user="alice"])
"""

from __future__ import annotations

import re
from json.encoder import encode_basestring as quoted  # type: ignore[attr-defined]  # chain.quoted without its call
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prov.model import ProvDocument
from prov.model.records import encoding_provn_value
from prov.serializers.provjson import encode_json_representation

from prov_agent import ids
from prov_agent.chain import compact
from prov_agent.errors import ExportError
from prov_agent.model import CLASSES

if TYPE_CHECKING:
    from prov_agent.export import Statements

Write = Callable[[str], object]
_PIECE = 2000
_KINDS = ("entity", "activity", "agent")
#: relation -> its two formal attributes in PROV-JSON, and the PROV-N tail of optional arguments
_RELATIONS: dict[str, tuple[str, str, str]] = {
    "used": ("prov:activity", "prov:entity", ", -"),
    "wasGeneratedBy": ("prov:entity", "prov:activity", ", -"),
    "wasInformedBy": ("prov:informed", "prov:informant", ""),
    "wasAssociatedWith": ("prov:activity", "prov:agent", ", -"),
    "wasAttributedTo": ("prov:entity", "prov:agent", ""),
    "actedOnBehalfOf": ("prov:delegate", "prov:responsible", ", -"),
    "hadMember": ("prov:collection", "prov:entity", ""),
    "wasDerivedFrom": ("prov:generatedEntity", "prov:usedEntity", ", -, -, -"),
}
_NAMESPACES = ((ids.PREFIX, ids.NAMESPACE_URI), (ids.PROV_AGENT_PREFIX, ids.PROV_AGENT_URI))
# a local part PROV-N takes as it is (no metacharacters, no leading - or ., no trailing .)
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_./-]*[A-Za-z0-9_/-])?")
_scratch: ProvDocument | None = None


def _time(text: str) -> str:
    return text[:-1] + "+00:00" if text.endswith("Z") else text


def _pieces(items: Iterator[str], write: Write, separator: str, lead: str = "") -> None:
    """Write ``items`` joined by ``separator`` in pieces (``lead`` before the first item)."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= _PIECE:
            write(lead + separator.join(batch))
            lead, batch = separator, []
    if batch:
        write(lead + separator.join(batch))


def _by_kind(statements: Statements) -> dict[str, list[str]]:
    """The element ids grouped by PROV kind (entity, activity, agent), in the order first declared
    (ids only: a tuple per element holding its attribute dict would be tracked by the garbage
    collector, and 100,000 of them made a full collection during the write)."""
    groups: dict[str, list[str]] = {kind: [] for kind in _KINDS}
    kinds = {cls: kind for cls, (kind, _) in CLASSES.items()}
    for ident, (cls, _, _) in statements.elements.items():
        groups[kinds[cls]].append(ident)
    return groups


def check(statements: Statements) -> None:
    """Refuse a relation kind this writer has no form for (before anything is written)."""
    unknown = sorted({rel for rel, _, _ in statements.relations} - _RELATIONS.keys())
    if unknown:
        raise ExportError(f"relation kinds {unknown} cannot be exported; known: {', '.join(_RELATIONS)}")


def _grouped(statements: Statements) -> dict[str, list[tuple[str, str]]]:
    """The relations by kind, in the order they were first stated."""
    groups: dict[str, list[tuple[str, str]]] = {rel: [] for rel in _RELATIONS}
    for rel, src, dst in statements.relations:
        groups[rel].append((src, dst))
    return groups


# -- PROV-JSON -----------------------------------------------------------------------------------


_values: dict[tuple[type, Any], str] = {}
_keys: dict[str, str] = {}


def _json_value(value: Any) -> str:
    """A non-string attribute value as ``prov`` writes it (typed), cached: durations, sizes and
    flags repeat across records and ``prov``'s own encoder is the slow part of an export."""
    key = (type(value), value)
    text = _values.get(key)
    if text is None:
        if len(_values) >= 50_000:
            _values.clear()
        text = _values[key] = compact(encode_json_representation(value))
    return text


def _provn_value(value: Any) -> str:
    """A non-string attribute value as ``prov`` writes it in PROV-N, cached like :func:`_json_value`."""
    key = (type(value), value, "provn")
    text = _values.get(key)  # type: ignore[arg-type]
    if text is None:
        if len(_values) >= 50_000:
            _values.clear()
        text = _values[key] = encoding_provn_value(value)  # type: ignore[index]
    return text


def _json_key(name: str) -> str:
    text = _keys.get(name)
    if text is None:
        text = _keys[name] = f"{quoted(f'{ids.PREFIX}:{name}')}:"
    return text


def _json_head(cls: str) -> str:
    types = [f'{{"$":{quoted(t)},"type":"xsd:QName"}}' for t in CLASSES[cls][1]]
    head = f'"{ids.PREFIX}:class":{quoted(cls)}'
    if not types:
        return head
    prov_type = types[0] if len(types) == 1 else f"[{','.join(types)}]"
    return f'"prov:type":{prov_type},{head}'


def write_json(statements: Statements, write: Write) -> None:
    """The document as compact PROV-JSON (one line)."""
    heads = {cls: _json_head(cls) for cls in CLASSES}
    prefix = ",".join(f"{quoted(p)}:{quoted(uri)}" for p, uri in _NAMESPACES)
    write(f'{{"prefix":{{{prefix}}}')

    def element(ident: str, cls: str, attrs: dict[str, Any], start: str | None, end: str | None) -> str:
        parts = [heads[cls]]
        add = parts.append
        if start:
            add(f'"prov:startTime":{quoted(_time(start))}')
        if end:
            add(f'"prov:endTime":{quoted(_time(end))}')
        for k in sorted(attrs):
            v = attrs[k]
            add((_keys.get(k) or _json_key(k)) + (quoted(v) if type(v) is str else _json_value(v)))
        return f"{quoted(ident)}:{{{','.join(parts)}}}"

    declared, attributes = statements.elements, statements.attrs
    for kind, idents in _by_kind(statements).items():
        items = (element(ident, cls, attributes[ident], start, end)
                 for ident in idents for cls, start, end in (declared[ident],))
        first = next(items, None)
        if first is None:
            continue
        write(f',"{kind}":{{{first}')
        _pieces(items, write, ",", lead=",")
        write("}")
    counter = 0
    groups = _grouped(statements)
    for rel, (a, b, _) in _RELATIONS.items():
        pairs = groups[rel]
        if not pairs:
            continue
        start, counter = counter, counter + len(pairs)
        qa, qb = quoted(a), quoted(b)
        items = (
            f'"_:id{start + n + 1}":{{{qa}:{quoted(src)},{qb}:{quoted(dst)}}}' for n, (src, dst) in enumerate(pairs)
        )
        write(f',"{rel}":{{')
        _pieces(items, write, ",")
        write("}")
    write("}")


# -- PROV-N --------------------------------------------------------------------------------------


def _name(ident: str) -> str:
    """An id as PROV-N writes it at an identifier position (escaped as ``prov`` escapes it)."""
    prefix, _, local = ident.partition(":")
    if _PLAIN_LOCAL.fullmatch(local):
        return ident
    global _scratch
    if _scratch is None:
        _scratch = ProvDocument()
        for p, uri in _NAMESPACES:
            _scratch.add_namespace(p, uri)
    name = _scratch.valid_qualified_name(ident)
    if name is None:
        raise ExportError(f"{ident!r} has the prefix {prefix!r}, which is not one of the document's namespaces")
    return name.provn_bare_representation()


def _provn_head(cls: str) -> str:
    types = [f"prov:type='{t}'" for t in CLASSES[cls][1]]
    return ", ".join([*types, f'{ids.PREFIX}:class="{cls}"'])


def write_provn(statements: Statements, write: Write) -> None:
    """The document as PROV-N."""
    heads = {cls: _provn_head(cls) for cls in CLASSES}
    write("document\n" + "".join(f"  prefix {p} <{uri}>\n" for p, uri in _NAMESPACES) + "  \n")

    def element(ident: str, cls: str, attrs: dict[str, Any], start: str | None, end: str | None) -> str:
        kind = CLASSES[cls][0]
        parts = [heads[cls]]
        add = parts.append
        for k in sorted(attrs):
            v = attrs[k]
            add(f"{ids.PREFIX}:{k}={encoding_provn_value(v) if type(v) is str else _provn_value(v)}")
        if kind == "activity":
            times = f"{_time(start) if start else '-'}, {_time(end) if end else '-'}, "
            return f"  activity({_name(ident)}, {times}[{', '.join(parts)}])\n"
        return f"  {kind}({_name(ident)}, [{', '.join(parts)}])\n"

    _pieces((element(i, *rest) for i, *rest in _elements(statements)), write, "")
    groups = _grouped(statements)
    for rel, (_, _, tail) in _RELATIONS.items():
        _pieces((f"  {rel}({_name(src)}, {_name(dst)}{tail})\n" for src, dst in groups[rel]), write, "")
    write("endDocument")


def _elements(statements: Statements) -> Iterator[tuple[str, str, dict[str, Any], str | None, str | None]]:
    for ident, (cls, attrs, start, end) in statements.items():
        yield ident, cls, attrs, start, end
