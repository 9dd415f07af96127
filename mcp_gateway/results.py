"""MCP results built by the gateway, the one translation of gateway errors into them, and the
one reading of a tool's answer as a dict (for the gateway's own callers of tools)."""

from __future__ import annotations

import json
from typing import Any

from mcp_gateway.errors import GatewayError, Outcome


def text_result(text: str, is_error: bool) -> dict[str, Any]:
    """A CallToolResult with one text block."""
    return {"content": [{"type": "text", "text": text}], "isError": is_error, "resultType": "complete"}


def error_result(error: GatewayError) -> tuple[dict[str, Any], Outcome]:
    """The isError result and the call-record outcome for a gateway error."""
    return text_result(f"{type(error).__name__}: {error}", True), error.outcome


def rpc_error_result(node: str, error: dict[str, Any]) -> dict[str, Any]:
    """A node's JSON-RPC error as an isError result (tool failures never surface as JSON-RPC errors)."""
    message = error.get("message", "unknown error")
    return text_result(f"node {node!r} rejected the call: {message} (JSON-RPC error {error.get('code')})", True)


def answer_dict(structured: Any, text: str) -> dict[str, Any]:
    """A tool's answer as a dict: its structured content (unwrapped from FastMCP's ``{"result": ...}``
    wrapper), else its text parsed as JSON, else ``{"text": text}``.

    >>> answer_dict({"result": {"a": 1}}, "")
    {'a': 1}
    >>> answer_dict(None, "[1, 2]")
    {'result': [1, 2]}
    """
    if isinstance(structured, dict):
        inner = structured.get("result")
        return inner if set(structured) == {"result"} and isinstance(inner, dict) else structured
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"text": text}
    return parsed if isinstance(parsed, dict) else {"result": parsed}
