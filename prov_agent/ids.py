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

import os
import random
import re
import time
from urllib.parse import quote

from prov_agent.errors import InvalidProvInput

PREFIX = "controlroom"
NAMESPACE_URI = "https://controlroom.dev/prov#"
PROV_AGENT_PREFIX = "provagent"
PROV_AGENT_URI = "https://w3id.org/prov-agent#"

_rng = random.Random()  # unique keys, not secrets: seeded from urandom, reseeded in forked children
os.register_at_fork(after_in_child=_rng.seed)
_bits = _rng.getrandbits
_VARIANT = 1 << 63  # the RFC 9562 variant bits (10) of the last 64 bits
_RAND_B = (1 << 62) - 1

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


def time_ordered_key() -> str:
    """A new unique key: 32 hex digits laid out as a UUIDv7 (milliseconds since the epoch first,
    then 74 random bits), so keys made later sort after earlier ones (to the millisecond).

    Ids built from it (calls, invocations, decisions) land at the end of the mentions index
    instead of all over it: random (UUIDv4) call ids made that index's inserts scatter, half of
    SQLite's cost per stored gateway call (docs/provenance.md, "Issue 15, third step").

    >>> a, b = time_ordered_key(), time_ordered_key()
    >>> len(a), a[12], a != b
    (32, '7', True)
    """
    r = _bits(74)
    return f"{time.time_ns() // 1_000_000:012x}7{r >> 62:03x}{(r & _RAND_B) | _VARIANT:016x}"


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
