"""Writing and reading single markdown table cells and rows (escaping, lists, JSON values)."""

from __future__ import annotations

import json
import re

from workflows.spec.layout import Codec

_ESCAPES = {"n": "\n", "r": "\r", "|": "|", "\\": "\\", ",": ","}
_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+$")


class CellError(ValueError):
    """A cell whose content the codec cannot read; the message says what was expected."""


def escape(text: str, *, comma: bool = False) -> str:
    """Escape text for one table cell."""
    out = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n").replace("\r", "\\r")
    return out.replace(",", "\\,") if comma else out


def unescape(raw: str) -> str:
    """Undo :func:`escape`; an unknown escape such as ``\\d`` is kept as written."""
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw) and raw[index + 1] in _ESCAPES:
            out.append(_ESCAPES[raw[index + 1]])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def split_unescaped(raw: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is not preceded by an escaping backslash (escapes kept)."""
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            current.append(raw[index : index + 2])
            index += 2
            continue
        if char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def is_row(line: str) -> bool:
    """Whether a line is a markdown table row."""
    stripped = line.strip()
    return len(stripped) >= 2 and stripped.startswith("|") and stripped.endswith("|")


def is_separator(line: str) -> bool:
    """Whether a line is the ``| --- | --- |`` line under a table header."""
    return bool(_SEPARATOR.match(line.strip().replace(" ", "")))


def row_cells(line: str) -> list[str]:
    """The raw (still escaped) cells of a table row, stripped."""
    parts = split_unescaped(line.strip(), "|")
    return [part.strip() for part in parts[1:-1]]


def encode(value: object, codec: Codec) -> str:
    """Write one field value as a cell."""
    if codec == "list":
        assert isinstance(value, list)
        return ", ".join(escape(str(item), comma=True) for item in value)
    if codec == "value":
        return "" if value is None else escape(json.dumps(value, ensure_ascii=False))
    if codec == "flag":
        return "yes" if value else "no"
    return escape(str(value))


def decode(raw: str, codec: Codec) -> object:
    """Read one cell; raises :class:`CellError` with a hint when it does not fit the codec."""
    if codec == "list":
        if not raw:
            return []
        return [unescape(item).strip() for item in split_unescaped(raw, ",")]
    if codec == "value":
        text = unescape(raw)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text
    if codec == "size":
        text = unescape(raw)
        if not text:
            return 1
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if codec == "flag":
        word = unescape(raw).lower()
        if word in ("yes", "true"):
            return True
        if word in ("no", "false", ""):
            return False
        raise CellError(f"expected yes or no, got {raw!r}")
    return unescape(raw)
