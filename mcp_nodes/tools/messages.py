"""Message tools: read the workflow messages a namespace's agents exchanged, send one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from agents.testbed.bus.base import destination
from mcp_nodes.auth import current_identity, require_namespace, visible_namespace
from mcp_nodes.models import MessageLine, MessageSent
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.arguments import (
    CONTROL, READ_ONLY, Cursor, EndTime, Limit, NamespaceArg, NamespaceFilter, Reason, StartTime,
)
from workflows.store.records import Page

__all__ = ["register"]

MsgType = Annotated[str, Field(
    min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$",
    description="e.g. 'scale_workers'")]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add list_messages and send_message to ``mcp``."""
    manager, store = services.manager, services.store

    @mcp.tool(annotations=READ_ONLY)
    async def list_messages(
        namespace: NamespaceFilter = None,
        execution_id: Annotated[str | None, Field(max_length=200)] = None,
        agent: Annotated[str | None, Field(max_length=200, description="sender")] = None,
        msg_type: Annotated[str | None, Field(max_length=64, description="e.g. start_run, stf_gen, end_run, slice_result")] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 10, cursor: Cursor = None,
    ) -> Page[MessageLine]:
        """Workflow bus messages (start_run, stf_gen, ...), newest first."""
        ns = visible_namespace(current_identity(), namespace)
        page = await store.events.list_messages(
            namespace=ns, execution_id=execution_id, agent=agent, msg_type=msg_type,
            start_time=start_time, end_time=end_time, limit=limit, cursor=cursor,
        )
        return Page[MessageLine](items=[MessageLine.model_validate(m) for m in page.items], total=page.total,
                                 total_is_lower_bound=page.total_is_lower_bound, has_more=page.has_more,
                                 next_cursor=page.next_cursor)

    @mcp.tool(annotations=CONTROL)
    async def send_message(namespace: NamespaceArg, msg_type: MsgType,
                           body: Annotated[dict[str, Any] | None, Field()] = None,
                           reason: Reason = None) -> MessageSent:
        """Broadcast a control message to the namespace's agents, e.g. msg_type='scale_workers',
        body={'target': 10}."""
        require_namespace(current_identity(), namespace)
        await manager.send_message(namespace, msg_type, dict(body or {}), reason=reason)
        return MessageSent(namespace=namespace, msg_type=msg_type,
                           destination=destination(namespace, "topic", "testbed_control"),
                           sent_at=datetime.now(UTC))
