"""``ToolCaller`` over an MCP client (the gateway's or a node's tools)."""

from __future__ import annotations

import json
from typing import Any

from agents.ai.debugger.evidence import ToolFailed


class McpToolCaller:
    """Calls tools through a connected ``fastmcp.Client``; an ``isError`` result raises ``ToolFailed``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(name, arguments, raise_on_error=False)
        text = "".join(getattr(block, "text", "") for block in result.content)
        if result.is_error:
            raise ToolFailed(text or f"{name} failed")
        if isinstance(result.structured_content, dict):
            content = result.structured_content
            # fastmcp wraps non-object outputs as {"result": ...}
            return content["result"] if set(content) == {"result"} and isinstance(content["result"], dict) else content
        try:
            parsed = json.loads(text)
        except ValueError:
            return {"text": text}
        return parsed if isinstance(parsed, dict) else {"result": parsed}
