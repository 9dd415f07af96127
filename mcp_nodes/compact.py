"""Tool input schemas as a model should read them: the same contract in fewer characters.

Claude Code (and any MCP client) sends every tool's input schema to the model on every turn.
pydantic writes an optional argument as ``{"anyOf": [{"type": "string", ...}, {"type": "null"}],
"default": null}``; the model only needs ``{"type": "string", ...}`` and "not required". The
listed schema is narrower, never looser: arguments are still validated by the tool's own
signature (which accepts an explicit null), so a client that checks against it rejects nothing
the tool would accept, except an explicit null it could simply omit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastmcp.server.transforms import Transform
from fastmcp.tools import Tool

__all__ = ["CompactSchemas", "compact_schema", "untitled"]


_CHOICES = re.compile(r"^\^\(([A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*)\)\$$")
# checked by the tool itself; to a model they are noise (an id is never 200 characters long)
_DROPPED = frozenset({"title", "maxLength", "minLength", "minimum"})


def _compact_property(prop: dict[str, Any]) -> dict[str, Any]:
    branches = prop.get("anyOf")
    if prop.get("default", 0) is None and isinstance(branches, list):
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1 and isinstance(rest[0], dict):
            prop = {**rest[0], **{key: value for key, value in prop.items() if key != "anyOf"}}
    out = {key: value for key, value in prop.items()
           if key not in _DROPPED and not (key == "default" and value is None)}
    choices = _CHOICES.match(str(out.get("pattern", "")))
    if choices:  # "^(running|ended)$" reads better as an enum, which also says it all
        values = choices.group(1).split("|")
        del out["pattern"]
        out["enum"] = values
        if out.get("description") == " | ".join(values):
            del out["description"]
    else:  # an identifier's character class: the tool's error names it when it matters
        out.pop("pattern", None)
    return out


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each optional ``X | None = None`` property written as plain ``X``; titles,
    length bounds, minimums, patterns and ``additionalProperties`` dropped; ``^(a|b)$`` patterns as enums.

    >>> compact_schema({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}],
    ...                 "default": None, "description": "d", "title": "A"}}})
    {'type': 'object', 'properties': {'a': {'type': 'string', 'description': 'd'}}}
    """
    out = {key: value for key, value in schema.items() if key not in ("title", "additionalProperties")}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {name: _compact_property({k: v for k, v in prop.items() if k != "title"})
                             for name, prop in properties.items()}
    return out


def untitled(schema: Any) -> Any:
    """``schema`` without its ``title`` keys (pydantic's title-cased field names), at every depth.

    >>> untitled({"title": "P", "properties": {"a": {"title": "A", "type": "integer"}}})
    {'properties': {'a': {'type': 'integer'}}}
    """
    if isinstance(schema, list):
        return [untitled(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {key: untitled(value) for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))}


class CompactSchemas(Transform):
    """Lists every tool with :func:`compact_schema` applied; calls still run the original tool."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Tool, Tool]] = {}

    async def list_tools(self, tools: Sequence[Tool]) -> Sequence[Tool]:
        cache: dict[int, tuple[Tool, Tool]] = {}  # only the tools listed now (a gateway's catalog changes)
        for tool in tools:
            cached = self._cache.get(id(tool))
            if cached is None or cached[0] is not tool:
                cached = (tool, tool.model_copy(update={"parameters": compact_schema(tool.parameters)}))
            cache[id(tool)] = cached
        self._cache = cache
        return [listed for _, listed in cache.values()]
