"""The start forms' fields: a workflow's parameters from its JSON Schema, checked before the call.

A value left empty is not sent (the workflow's default applies). Each field's error names the
field and the allowed range; an error the node sends back (it validates again) is put beside the
field its text names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SCALARS = frozenset({"integer", "number", "boolean", "string"})


@dataclass(frozen=True)
class Field:
    """One parameter input."""

    name: str
    kind: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    section: str = ""
    """Empty for the workflow's own parameters; else the config section that accepts it (fast_processing...)."""


def definition_fields(definition: dict[str, Any]) -> list[Field]:
    """A workflow's parameters, then each config section's further ones (a config of that section takes them)."""
    out = fields(definition.get("parameter_schema") or {})
    seen = {f.name for f in out}
    for section, schema in sorted((definition.get("section_schemas") or {}).items()):
        extra = [f for f in fields(schema, section) if f.name not in seen]
        seen.update(f.name for f in extra)
        out.extend(extra)
    return out


def fields(schema: dict[str, Any], section: str = "") -> list[Field]:
    """The scalar parameters of a JSON Schema's properties, in schema order."""
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type")
        if kind is None:  # Optional[...]: anyOf with null
            kinds = [p.get("type") for p in prop.get("anyOf", []) if p.get("type") not in (None, "null")]
            kind = kinds[0] if len(kinds) == 1 else None
        if kind not in SCALARS:
            continue
        out.append(Field(name=name, kind=kind, default=prop.get("default"), description=prop.get("description", ""),
                         minimum=prop.get("minimum", prop.get("exclusiveMinimum")),
                         maximum=prop.get("maximum", prop.get("exclusiveMaximum")), section=section))
    return out


def parse(spec: list[Field], form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(parameters to send, errors by field name) from the submitted ``form`` values."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in spec:
        raw = form.get(f"p.{field.name}", "").strip()
        if raw == "":
            continue
        try:
            value = _convert(field, raw)
        except ValueError as error:
            errors[field.name] = str(error)
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            if field.minimum is not None and value < field.minimum:
                errors[field.name] = f"{field.name} must be at least {field.minimum:g}"
                continue
            if field.maximum is not None and value > field.maximum:
                errors[field.name] = f"{field.name} must be at most {field.maximum:g}"
                continue
        values[field.name] = value
    return values, errors


def _convert(field: Field, raw: str) -> Any:
    if field.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{field.name} must be a whole number, not {raw!r}") from None
    if field.kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{field.name} must be a number, not {raw!r}") from None
    if field.kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError(f"{field.name} must be true or false")
        return raw == "true"
    return raw


def place(error: str, names: list[str]) -> str | None:
    """The field an error text names (the longest name found as a word), else None."""
    found = [n for n in names if re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", error)]
    return max(found, key=len) if found else None
