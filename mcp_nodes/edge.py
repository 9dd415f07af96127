"""The one place where exceptions become MCP ``isError`` results.

`translate_error` maps any exception raised while running a tool to a `ToolError` whose
message names the field and the fix; `ErrorTranslation` is the FastMCP middleware that applies
it to every tools/call. Our packages' exceptions (node, store, testbed, workflow config) are
written for the caller and pass through as they are; pydantic validation errors are rewritten
one line per field; anything else is a bug, logged on the node with its traceback and reported
to the caller as one line without it.

Example::

    mcp = FastMCP("node", middleware=[ErrorTranslation()])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import mcp.types as mt
from fastmcp.exceptions import NotFoundError, ToolError
from fastmcp.exceptions import ValidationError as FastMCPValidationError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult
from pydantic import ValidationError

__all__ = ["ErrorTranslation", "describe_validation_error", "translate_error"]

log = logging.getLogger(__name__)

# Packages whose exceptions carry messages written for the caller.
_OUR_PACKAGES = ("mcp_nodes.", "workflows.", "agents.", "mcp_gateway.", "prov_agent.")

_FIXES: dict[str, str] = {
    "missing": "pass a value",
    "missing_argument": "pass a value",
    "unexpected_keyword_argument": "remove it",
    "extra_forbidden": "remove it",
    "int_parsing": "pass an integer, e.g. 10",
    "int_type": "pass an integer, e.g. 10",
    "int_from_float": "pass a whole number",
    "float_parsing": "pass a number, e.g. 2.5",
    "float_type": "pass a number, e.g. 2.5",
    "bool_parsing": "pass true or false",
    "bool_type": "pass true or false",
    "string_type": "pass a string",
    "dict_type": "pass a JSON object",
    "list_type": "pass a JSON array",
    "datetime_parsing": "pass an ISO-8601 time, e.g. 2026-11-23T12:00:00Z",
    "datetime_from_date_parsing": "pass an ISO-8601 time, e.g. 2026-11-23T12:00:00Z",
    "datetime_type": "pass an ISO-8601 time, e.g. 2026-11-23T12:00:00Z",
    "timezone_aware": "add a timezone, e.g. a trailing Z",
}


def describe_validation_error(error: ValidationError, valid_fields: Sequence[str] = ()) -> str:
    """One line per problem: ``field: what is wrong (got X); fix``.

    >>> from pydantic import BaseModel
    >>> class M(BaseModel):
    ...     n: int
    >>> try:
    ...     M(n="x")
    ... except ValidationError as e:
    ...     print(describe_validation_error(e))
    invalid arguments: n: Input should be a valid integer, unable to parse string as an integer (got 'x'); pass an integer, e.g. 10
    """
    lines = []
    for detail in error.errors(include_url=False):
        loc = ".".join(str(part) for part in detail.get("loc", ()) if part != "__root__") or "arguments"
        kind = detail.get("type", "")
        fix = _FIXES.get(kind, "")
        if kind in ("unexpected_keyword_argument", "extra_forbidden"):
            message = "is not a parameter of this tool"
            if valid_fields:
                fix = f"remove it; valid parameters: {', '.join(valid_fields)}"
        elif kind in ("missing", "missing_argument"):
            message = "is required"
        else:
            message = detail.get("msg", "is not valid")
            if fix == "" and ("greater" in message or "less" in message or "should be" in message):
                fix = "use an allowed value"
        shown = _short(detail.get("input")) if kind not in ("missing", "missing_argument") else None
        got = f" (got {shown})" if shown is not None else ""
        lines.append(f"{loc}: {message}{got}" + (f"; {fix}" if fix else ""))
    return "invalid arguments: " + " | ".join(lines)


def _short(value: Any) -> str | None:
    if isinstance(value, dict) and not value:
        return None
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def translate_error(error: BaseException, *, tool: str, valid_fields: Sequence[str] = ()) -> ToolError:
    """The `ToolError` a caller sees for ``error`` raised by ``tool``."""
    if isinstance(error, ToolError) and not isinstance(error.__cause__, BaseException):
        return error
    cause = error.__cause__ if isinstance(error, (FastMCPValidationError, ToolError)) else None
    if isinstance(cause, Exception):  # fastmcp wraps the tool's own exception: judge that one
        error = cause
    if isinstance(error, ValidationError):
        return ToolError(describe_validation_error(error, valid_fields))
    if isinstance(error, NotFoundError):
        return ToolError(f"unknown tool {tool!r}; call tools/list for the tools this node serves")
    if type(error).__module__.startswith(_OUR_PACKAGES):
        return ToolError(str(error))
    if isinstance(error, (ValueError, KeyError)) and str(error):
        return ToolError(f"{tool}: {error}")
    if isinstance(error, TimeoutError):
        return ToolError(f"{tool} timed out; retry, or call get_system_state to check the node")
    log.error("unexpected error in tool %s", tool, exc_info=error)
    return ToolError(
        f"{tool} failed on the node ({type(error).__name__}: {error}); this is a node bug, "
        "not bad input: retry once, then report it with the node log"
    )


class ErrorTranslation(Middleware):
    """FastMCP middleware: every tool failure becomes one clear `ToolError` (an ``isError`` result)."""

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        try:
            return await call_next(context)
        except Exception as error:  # the edge: nothing leaves as a traceback
            name = context.message.name
            raise translate_error(error, tool=name, valid_fields=await _fields(context, name)) from None


async def _fields(context: MiddlewareContext[mt.CallToolRequestParams], name: str) -> list[str]:
    server = context.fastmcp_context.fastmcp if context.fastmcp_context is not None else None
    if server is None:
        return []
    try:
        tool = await server.get_tool(name)
    except Exception:  # the tool list itself is unavailable: name no fields
        return []
    if tool is None:
        return []
    return sorted((tool.parameters or {}).get("properties", {}))
