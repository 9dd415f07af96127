"""Message tools: read the workflow messages a namespace's agents exchanged, send one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from agents.testbed.bus.base import destination
from mcp_nodes.auth import current_identity, require_namespace, visible_namespace
from mcp_nodes.models import MessageSent
from mcp_nodes.services import NodeServices
from mcp_nodes.tools.params import (
    CONTROL, READ_ONLY, Cursor, EndTime, Limit, NamespaceArg, NamespaceFilter, Reason, StartTime,
)
from workflows.store.records import MessageRecord, Page

__all__ = ["register"]

MsgType = Annotated[str, Field(
    min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$",
    description="message type, e.g. 'status_request' or 'scale_workers'")]


def register(mcp: FastMCP, services: NodeServices) -> None:
    """Add list_messages and send_message to ``mcp``."""
    manager, store = services.manager, services.store

    @mcp.tool(annotations=READ_ONLY)
    async def list_messages(
        namespace: NamespaceFilter = None,
        execution_id: Annotated[str | None, Field(max_length=200, description="only messages of this execution")] = None,
        agent: Annotated[str | None, Field(max_length=200, description="only messages sent by this agent")] = None,
        msg_type: Annotated[str | None, Field(max_length=64, description="e.g. start_run, stf_gen, end_run, slice_result")] = None,
        start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 50, cursor: Cursor = None,
    ) -> Page[MessageRecord]:
        """Workflow messages (run_imminent, start_run, stf_gen, end_run, ...), newest first; paginated."""
        ns = visible_namespace(current_identity(), namespace)
        return await store.events.list_messages(
            namespace=ns, execution_id=execution_id, agent=agent, msg_type=msg_type,
            start_time=start_time, end_time=end_time, limit=limit, cursor=cursor,
        )

    @mcp.tool(annotations=CONTROL)
    async def send_message(namespace: NamespaceArg, msg_type: MsgType,
                           body: Annotated[dict[str, Any] | None, Field(description="message fields (JSON object)")] = None,
                           reason: Reason = None) -> MessageSent:
        """Publish a control message to the namespace's testbed_control topic (all its agents
        receive it), e.g. msg_type='scale_workers' with body {'target': 10}."""
        require_namespace(current_identity(), namespace)
        await manager.send_message(namespace, msg_type, dict(body or {}), reason=reason)
        return MessageSent(namespace=namespace, msg_type=msg_type,
                           destination=destination(namespace, "topic", "testbed_control"),
                           sent_at=datetime.now(UTC))
