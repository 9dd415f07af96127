"""Stable identifiers in the ``controlroom:`` namespace.

Every element the library records has a qualified name ``controlroom:<kind>/<key>``, e.g.
``controlroom:execution/stf_datataking-alice-0001`` or ``controlroom:stf/swf.100010.000001.stf``.
Keys keep letters, digits and ``. _ - @ +``; anything else is percent-encoded so that every id
is a valid PROV-N qualified name and the same input always gives the same id.

>>> execution_id("stf_datataking-alice-0001")
'controlroom:execution/stf_datataking-alice-0001'
>>> person_id("Alice Smith")
'controlroom:person/Alice%20Smith'
"""

from __future__ import annotations

import re
from urllib.parse import quote

from prov_agent.errors import InvalidProvInput

PREFIX = "controlroom"
NAMESPACE_URI = "https://controlroom.dev/prov#"
PROV_AGENT_PREFIX = "provagent"
PROV_AGENT_URI = "https://w3id.org/prov-agent#"

_SAFE = re.compile(r"^[A-Za-z0-9._\-]+$")
_QNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*:[^\s]+$")


def _key(key: object, field: str) -> str:
    text = str(key)
    if not text:
        raise InvalidProvInput(field, "is empty", "pass a non-empty name or number")
    if _SAFE.match(text):
        return text
    return quote(text, safe="._-")


def make_id(kind: str, key: object) -> str:
    """``controlroom:<kind>/<key>`` with the key made safe for PROV-N."""
    return f"{PREFIX}:{kind}/{_key(key, kind)}"


def check_id(value: str, field: str = "id") -> str:
    """Reject something that is not a qualified name (``prefix:local``)."""
    if not isinstance(value, str) or not _QNAME.match(value):
        raise InvalidProvInput(
            field,
            f"{value!r} is not a qualified name",
            "use an id of the form 'controlroom:<kind>/<key>' (see prov_agent.ids)",
        )
    return value


def namespace_id(namespace: str) -> str:
    return make_id("namespace", namespace)


def execution_id(execution: str) -> str:
    return make_id("execution", execution)


def run_id(run_number: int | str) -> str:
    return make_id("run", run_number)


def stf_id(filename: str) -> str:
    return make_id("stf", filename)


def tf_slice_id(slice_key: str | int) -> str:
    return make_id("slice", slice_key)


def call_id(uuid_hex: str) -> str:
    return make_id("call", uuid_hex)


def invocation_id(uuid_hex: str) -> str:
    return make_id("invocation", uuid_hex)


def decision_id(uuid_hex: str) -> str:
    return make_id("decision", uuid_hex)


def agent_id(name: str) -> str:
    return make_id("agent", name)


def person_id(user: str) -> str:
    return make_id("person", user)


def model_id(name: str) -> str:
    return make_id("model", name)


def tool_id(name: str) -> str:
    return make_id("tool", name)


def data_id(uuid_hex: str, kind: str = "data") -> str:
    return make_id(kind, uuid_hex)
