"""The web monitor's only way to the data: the gateway's own call chain, as the signed-in person.

A node tool (``get_system_state``, ``start_workflow``...) becomes a `mcp_gateway.calls.Call` handed
to the composed chain (observe → rate limit → scope → route → forward), exactly as the passthrough
builds one for an MCP ``tools/call``: the principal's isolation, scopes and rate limit apply, and
the call is recorded with ``client = "controlroom-web-monitor"`` (set by the gateway, not claimed)
acting on behalf of the principal. A gateway tool (``list_nodes``, ``list_pending_fixes``,
``approve_fix``, ``prov_*``) goes through the gateway's FastMCP server with its middleware (the
same scope check), with the principal where `mcp_gateway.tools.current_principal` looks.

Example::

    caller = WebCaller(backend, principal)
    state = await caller.call("get_system_state", {"node": "local"})
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.auth import AccessToken
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

from mcp_gateway.auth import Authenticator
from mcp_gateway.calls import CLIENT_CAPABILITIES_META_KEY, MODERN_ERA, PROTOCOL_VERSION_META_KEY, Call, Handler
from mcp_gateway.tool_catalog import LogicalTool
from mcp_gateway.models import Principal
from mcp_gateway.results import answer_dict

WEB_CLIENT = "controlroom-web-monitor"


class CallFailed(Exception):
    """A tool call the chain refused or the tool failed; the text says why (shown on the page)."""


@dataclass(frozen=True)
class Backend:
    """What the monitor needs of the assembled gateway (`mcp_gateway.server.build_gateway`)."""

    handler: Handler
    catalog: Callable[[], dict[str, LogicalTool]]
    own_tools: Callable[[], set[str]]
    mcp: FastMCP
    authenticator: Authenticator


class WebCaller:
    """Calls tools through the gateway as ``principal``; results as plain dicts."""

    def __init__(self, backend: Backend, principal: Principal) -> None:
        self.backend = backend
        self.principal = principal

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The tool's structured result; `CallFailed` with the tool's own text when it fails."""
        arguments = {k: v for k, v in (arguments or {}).items() if v is not None}
        if name in self.backend.own_tools():
            return await self._own(name, arguments)
        tool = self.backend.catalog().get(name)
        if tool is None:
            raise CallFailed(f"{name} is offered by no registered node (is a node up?)")
        return await self._node(tool, arguments)

    async def _node(self, tool: LogicalTool, arguments: dict[str, Any]) -> dict[str, Any]:
        request_id = uuid.uuid4().hex
        message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                   "params": {"name": tool.name, "arguments": arguments,
                              "_meta": {PROTOCOL_VERSION_META_KEY: MODERN_ERA, CLIENT_CAPABILITIES_META_KEY: {}}}}
        headers = [(b"content-type", b"application/json"), (b"accept", b"application/json, text/event-stream"),
                   (b"mcp-protocol-version", MODERN_ERA.encode()), (b"mcp-method", b"tools/call"),
                   (b"mcp-name", tool.name.encode())]

        async def ignore(_: bytes) -> None:
            return None

        call = Call(principal=self.principal, request_id=request_id, tool=tool, arguments=arguments,
                    message=message, body=json.dumps(message, separators=(",", ":")).encode(), headers=headers,
                    emit=ignore, era=MODERN_ERA, client=WEB_CLIENT, client_claimed=False)
        reply = await self.backend.handler(call)
        result = reply.result
        text = "".join(b.get("text", "") for b in result.get("content", []) if isinstance(b, dict))
        if result.get("isError") or reply.outcome != "ok":
            raise CallFailed(text or reply.error or f"{tool.name} failed ({reply.outcome})")
        return answer_dict(result.get("structuredContent"), text)

    async def _own(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        user = AuthenticatedUser(AccessToken(token="", client_id=self.principal.user, scopes=self.principal.scopes,
                                             subject=self.principal.user, claims={"principal": self.principal}))
        reset = auth_context_var.set(user)
        try:
            result = await self.backend.mcp.call_tool(name, arguments)
        except Exception as error:  # noqa: BLE001 - a ToolError, a refusal or bad arguments: said on the page
            raise CallFailed(str(error) or type(error).__name__) from error
        finally:
            auth_context_var.reset(reset)
        text = "".join(getattr(block, "text", "") for block in result.content)
        return answer_dict(result.structured_content, text)

