"""Redaction of tool arguments, prompts and responses before they are recorded.

Keys that name a secret anywhere in them (``auth``, ``db_password``, ``api_key``, ``x_token``,
``secret``, ``cookie``, ``credential``, ``private_key``, ...; ``max_tokens`` is not one) have
their whole value replaced by ``"[redacted]"``. Inside every string, credential-looking values
(the gateway's own ``crt_...`` tokens, ``Bearer ...``, JWTs, ``sk-...`` keys, GitHub tokens,
PEM private keys) and the value of each ``key=value`` or ``key: value`` pair whose key names a
secret (``password=hunter2``, ``api_key: abc``) become ``[redacted]``. A string longer than the cap (bytes, UTF-8) is cut
and marked; any other value whose JSON is longer than the cap is replaced by a marker. The
sha256 of the canonical JSON of the ORIGINAL arguments is kept, so a record can be matched
to the real call without storing it.

Speed (the writer redacts every gateway call's arguments): the two patterns above backtrack
over every word of a string (30-100 µs for a 20-100 character file name or path), so a string
is first screened for what every match must contain: one of the value forms' literal starts
(``bearer``, ``eyj``, ``sk-``, ``crt_``, ...), or a secret word together with ``:`` or ``=``.
The screen runs on the lower-cased text of ASCII strings (where lower-casing is exactly what the
patterns' case-insensitivity matches; other strings take the patterns directly) and costs
≈ 0.3 µs; only a string that passes it is searched with the patterns, so what is redacted is
unchanged. A key's verdict is remembered (argument names repeat). :meth:`Redactor.arguments_json`
gives the stored JSON text and the digest with one encoding when nothing was redacted (the two
texts are then the same).

>>> Redactor().arguments({"namespace": "alice", "api_key": "sk-ant-123456789012345678"})[0]
{'api_key': '[redacted]', 'namespace': 'alice'}
"""

from __future__ import annotations

import hashlib
import json
import re
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from prov_agent.errors import InvalidProvInput

REDACTED = "[redacted]"

_SECRET_WORDS = (
    r"token(?!s)|passw|pwd|secret|auth|api[_-]?key|apikey|cookie|credential|private[_-]?key|session[_-]?key|"
    r"access[_-]?key|signature|bearer"
)
_SECRET_KEY = re.compile(rf"(?i)({_SECRET_WORDS})")
# key=value / key: value in free text, the key naming a secret; the value quoted or up to a separator
_SECRET_PAIR = re.compile(
    rf"""(?i)(\b[\w.-]*(?:{_SECRET_WORDS})[\w.-]*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&"']+)"""
)
_SECRET_VALUE = re.compile(
    r"(?i)(\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bbasic\s+[A-Za-z0-9+/=]{8,}"
    r"|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bcrt_[A-Za-z0-9_-]{8,})"  # the gateway's bearer tokens (mcp_gateway.auth.TOKEN_PREFIX)
)


# The screen (see the module docstring): necessary conditions of a _SECRET_VALUE match (its
# literal starts, lower-cased) and of a _SECRET_PAIR match (a secret word; the caller also checks
# for ":" or "="), searched in lower-cased ASCII text, without re.I and without backtracking.
_VALUE_STARTS = re.compile(r"bearer|basic|eyj|sk-|gh[pousr]_|xox[abpr]-|akia|-----begin|crt_")
_PAIR_WORDS = re.compile(r"token|passw|pwd|secret|auth|api|cookie|credential|private|session|access|signature|bearer")
_KEY_CACHE = 4096
_SHORT = 128  # string values up to this length have their redacted text remembered (flat arguments)

_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode
_sha256 = hashlib.sha256
_quoted = encode_basestring  # a str's JSON text exactly as _canonical writes it
_REDACTED_JSON = _quoted(REDACTED)


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value`` (non-JSON values by their ``str``)."""
    return _sha256(_canonical(value).encode("utf-8")).hexdigest()


def _may_hold_secret(value: str) -> bool:
    """False only when neither secret pattern can match ``value`` (True may be a false alarm)."""
    if not value.isascii():
        return True  # re.I folds some non-ASCII letters onto ASCII ones (ı, ſ, K): no screen
    low = value.lower()
    if _VALUE_STARTS.search(low) is not None:
        return True
    return ("=" in value or ":" in value) and _PAIR_WORDS.search(low) is not None


class Redactor:
    """Caps and scrubs values; one per recorder (its settings are explicit arguments)."""

    def __init__(self, max_value_bytes: int = 4096, max_depth: int = 8) -> None:
        if max_value_bytes < 64:
            raise InvalidProvInput("max_value_bytes", f"{max_value_bytes} is too small", "use at least 64")
        self.max_value_bytes = max_value_bytes
        self.max_depth = max_depth
        self._secret_keys: dict[str, bool] = {}
        # for flat arguments: key -> (its JSON text and ':', secret?); short value -> its redacted
        # text (the same values recur call after call: a namespace, a tool's mode)
        self._pairs: dict[str, tuple[str, bool]] = {}
        self._short: dict[str, str] = {}

    def secret_key(self, key: str) -> bool:
        """True when ``key`` names a secret (its whole value is then redacted)."""
        known = self._secret_keys.get(key)
        if known is None:
            if len(self._secret_keys) >= _KEY_CACHE:
                self._secret_keys.clear()
            known = self._secret_keys[key] = _SECRET_KEY.search(key) is not None
        return known

    def text(self, value: str) -> str:
        """A string with credential-looking parts replaced and its length capped."""
        if _may_hold_secret(value):
            if _SECRET_VALUE.search(value):
                value = _SECRET_VALUE.sub(REDACTED, value)
            if _SECRET_PAIR.search(value):
                value = _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, value)
        if value.isascii() and len(value) <= self.max_value_bytes:
            return value
        raw = value.encode("utf-8")
        if len(raw) > self.max_value_bytes:
            cut = raw[: self.max_value_bytes].decode("utf-8", errors="ignore")
            return f"{cut}…[truncated {len(raw) - len(cut.encode('utf-8'))} bytes]"
        return value

    def value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth >= self.max_depth:
            return "[truncated: nested too deep]"
        if isinstance(value, dict):
            out = {
                str(k): (REDACTED if self.secret_key(str(k)) else self.value(v, depth + 1)) for k, v in value.items()
            }
        elif isinstance(value, list | tuple | set | frozenset):
            out = [self.value(v, depth + 1) for v in value]
        else:
            return self.text(str(value))
        size = len(json.dumps(out, ensure_ascii=False, default=str).encode("utf-8"))
        if size > self.max_value_bytes:
            return f"[truncated: {size} bytes]"
        return out

    def arguments(self, arguments: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
        """(redacted arguments, sha256 digest of the original arguments)."""
        arguments = arguments or {}
        if not isinstance(arguments, dict):
            raise InvalidProvInput("arguments", f"is a {type(arguments).__name__}", "pass a dict of argument names")
        clean = {
            str(k): (REDACTED if self.secret_key(str(k)) else self.value(v, 1)) for k, v in arguments.items()
        }
        return dict(sorted(clean.items())), digest(arguments)

    def arguments_json(self, arguments: dict[str, Any] | None) -> tuple[str, str]:
        """(canonical JSON text of the redacted arguments, sha256 digest of the original arguments):
        the same as ``canonical JSON of arguments(...)[0]`` and ``arguments(...)[1]``, with one
        encoding instead of two when nothing was redacted or capped (the texts are then equal)."""
        arguments = arguments or {}
        if not isinstance(arguments, dict):
            raise InvalidProvInput("arguments", f"is a {type(arguments).__name__}", "pass a dict of argument names")
        flat = self._flat_json(arguments)
        if flat is not None:
            original, clean_text = flat
            return clean_text, _sha256(original.encode("utf-8")).hexdigest()
        clean: dict[str, Any] = {}
        changed = False
        text, secret_key = self.text, self.secret_key
        for k, v in arguments.items():
            key = k if type(k) is str else str(k)
            if secret_key(key):
                clean[key], changed = REDACTED, True
                continue
            kind = type(v)
            if kind is str:
                new = text(v)
            elif v is None or kind is int or kind is float or kind is bool:
                new = v
            else:
                new, changed = self.value(v, 1), True  # nested: compared by encoding, not traced
            if new is not v or key is not k:
                changed = True
            clean[key] = new
        original = _canonical(arguments)
        args_digest = _sha256(original.encode("utf-8")).hexdigest()
        return (_canonical(clean) if changed else original), args_digest

    def _flat_json(self, arguments: dict[Any, Any]) -> tuple[str, str] | None:
        """(original, redacted) canonical JSON texts of flat arguments (str keys; str, int, bool,
        None or finite float values), written directly: the encoder's own text for them (sorted
        keys, ``quoted`` strings, ``repr`` numbers) at a third of its cost on small dicts. None
        for anything else (the encoder then writes it)."""
        try:
            keys = sorted(arguments)
        except TypeError:
            return None
        original: list[str] = []
        clean: list[str] = []
        changed = False
        pairs, short = self._pairs, self._short
        for k in keys:
            if type(k) is not str:
                return None
            v = arguments[k]
            kind = type(v)
            if kind is str:
                value = _quoted(v)
            elif kind is int or (kind is float and v - v == 0):  # v - v is nan for nan and ±inf
                value = repr(v)
            elif kind is bool:
                value = "true" if v else "false"
            elif v is None:
                value = "null"
            else:
                return None
            known = pairs.get(k)
            if known is None:
                if len(pairs) >= _KEY_CACHE:
                    pairs.clear()
                known = pairs[k] = (f"{_quoted(k)}:", self.secret_key(k))
            pair, secret = known
            original.append(pair + value)
            if secret:
                clean.append(pair + _REDACTED_JSON)
                changed = True
            elif kind is str:
                if len(v) <= _SHORT:
                    new = short.get(v)
                    if new is None:
                        if len(short) >= _KEY_CACHE:
                            short.clear()
                        new = short[v] = self.text(v)
                else:
                    new = self.text(v)
                if new != v:
                    clean.append(pair + _quoted(new))
                    changed = True
                else:
                    clean.append(pair + value)
            else:
                clean.append(pair + value)
        text = "{" + ",".join(original) + "}"
        return text, ("{" + ",".join(clean) + "}" if changed else text)
