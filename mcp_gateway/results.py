"""MCP results built by the gateway, and the one translation of gateway errors into them."""

from __future__ import annotations

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
