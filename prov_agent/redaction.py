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

>>> Redactor().arguments({"namespace": "alice", "api_key": "sk-ant-123456789012345678"})[0]
{'api_key': '[redacted]', 'namespace': 'alice'}
"""

from __future__ import annotations

import hashlib
import json
import re
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


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value`` (non-JSON values by their ``str``)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Redactor:
    """Caps and scrubs values; one per recorder (its settings are explicit arguments)."""

    def __init__(self, max_value_bytes: int = 4096, max_depth: int = 8) -> None:
        if max_value_bytes < 64:
            raise InvalidProvInput("max_value_bytes", f"{max_value_bytes} is too small", "use at least 64")
        self.max_value_bytes = max_value_bytes
        self.max_depth = max_depth

    def text(self, value: str) -> str:
        """A string with credential-looking parts replaced and its length capped."""
        if _SECRET_VALUE.search(value):
            value = _SECRET_VALUE.sub(REDACTED, value)
        if _SECRET_PAIR.search(value):
            value = _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, value)
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
                str(k): (REDACTED if _SECRET_KEY.search(str(k)) else self.value(v, depth + 1)) for k, v in value.items()
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
            str(k): (REDACTED if _SECRET_KEY.search(str(k)) else self.value(v, 1)) for k, v in arguments.items()
        }
        return dict(sorted(clean.items())), digest(arguments)
