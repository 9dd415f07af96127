"""The gateway's debugging tools: `debug_execution`, `approve_fix`, `reject_fix`, `list_pending_fixes`,
`list_debug_sessions` (the sessions run so far, `mcp_gateway.debug_history`).

The debugging agent reaches the nodes through the gateway's own call chain (observe → rate
limit → route → forward) as the calling principal, so it can see and fix only what that
principal may, and every tool call it makes is recorded like any client's. Its steps are
recorded as PROV decisions when the gateway has a recorder.

With the gateway's provenance store (``prov_store``), the debugger's timeline also holds the
gateway's own call records about the execution, its namespace and its agents (who, through which
client, which tool, with what reason, and how it ended), so a stop or kill a person made is
recognised as intent even when the node keeps its provenance elsewhere.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.elicitation import AcceptedElicitation, DeclinedElicitation
from mcp.types import ToolAnnotations
from pydantic import BaseModel

from datetime import datetime

from agents.ai.debugger.evidence import ProvenanceSource, ToolFailed
from mcp_nodes.contract.scopes import reads_only
from agents.ai.debugger.timeline import Action, Entry, provenance_entries
from agents.ai.debugger.loop import Approvals, DebugReport, Debugger, Step, StepObserver
from agents.ai.debugger.policy import Policy
from agents.ai.llm import LLM
from mcp_gateway.calls import CLIENT_CAPABILITIES_META_KEY, MODERN_ERA, PROTOCOL_VERSION_META_KEY, Call, Handler
from mcp_gateway.tool_catalog import LogicalTool
from mcp_gateway.debug_history import DebugHistory, DebugSessions
from mcp_gateway.models import Principal
from mcp_gateway.results import answer_dict
from mcp_gateway.tools import current_principal

DEBUGGER_CLIENT = "controlroom-debugger"


class PendingFixes(BaseModel):
    """`list_pending_fixes`' answer: structured even when empty (``items: [], total: 0``)."""

    items: list[DebugReport]
    total: int


class GatewayToolCaller:
    """A `ToolCaller` that sends node tool calls through the gateway's call chain as ``principal``."""

    def __init__(self, handler: Handler, catalog: Callable[[], dict[str, LogicalTool]], principal: Principal) -> None:
        self.handler = handler
        self.catalog = catalog
        self.principal = principal

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        tool = self.catalog().get(name)
        if tool is None:
            raise ToolFailed(f"tool {name!r} is not offered by any registered node")
        request_id = uuid.uuid4().hex
        message = {
            "jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments,
                       "_meta": {PROTOCOL_VERSION_META_KEY: MODERN_ERA, CLIENT_CAPABILITIES_META_KEY: {}}},
        }
        headers = [(b"content-type", b"application/json"), (b"accept", b"application/json, text/event-stream"),
                   (b"mcp-protocol-version", MODERN_ERA.encode()), (b"mcp-method", b"tools/call"),
                   (b"mcp-name", name.encode())]

        async def ignore(_: bytes) -> None:
            return None

        call = Call(principal=self.principal, request_id=request_id, tool=tool, arguments=arguments, message=message,
                    body=json.dumps(message, separators=(",", ":")).encode(), headers=headers, emit=ignore,
                    era=MODERN_ERA, client=DEBUGGER_CLIENT, client_claimed=False)
        reply = await self.handler(call)
        result = reply.result
        text = "".join(block.get("text", "") for block in result.get("content", []) if isinstance(block, dict))
        if result.get("isError") or reply.outcome != "ok":
            raise ToolFailed(text or reply.error or f"{name} failed ({reply.outcome})")
        return answer_dict(result.get("structuredContent"), text)


def _elicitation(ctx: Context) -> Callable[[str], Awaitable[bool | None]]:
    """Ask the human through MCP elicitation; None (→ a pending approval) when the client cannot
    answer: a 2026-07-28-era client (no back-channel), or one without the elicitation capability."""

    async def ask(question: str) -> bool | None:
        try:
            answer = await ctx.elicit(question, response_type=bool)
        except Exception:  # the era or the client does not allow it: fall back to approve_fix
            return None
        if isinstance(answer, AcceptedElicitation):
            return bool(answer.data)
        if isinstance(answer, DeclinedElicitation):
            return False
        return None

    return ask


class DebugService:
    """What every debugging session of this gateway shares: the call chain, policy, LLM, approvals."""

    def __init__(
        self,
        handler: Handler,
        catalog: Callable[[], dict[str, LogicalTool]],
        *,
        policy: Policy,
        llm: LLM | None = None,
        step_observer: Callable[[Principal], StepObserver] | None = None,
        prov_store: Callable[[], Any] | None = None,  # the gateway's ProvWriter (or a ProvStore)
    ) -> None:
        self.prov_store = prov_store
        self.handler = handler
        self.catalog = catalog
        self.policy = policy
        self.llm = llm
        self.step_observer = step_observer
        self.approvals = Approvals()
        self.history = DebugHistory()

    def debugger_for(self, principal: Principal) -> Debugger:
        observers: list[StepObserver] = [self.history]
        if self.step_observer is not None:
            observers.append(self.step_observer(principal))
        return Debugger(
            GatewayToolCaller(self.handler, self.catalog, principal), policy=self.policy, llm=self.llm,
            approvals=self.approvals, observer=_Both(observers),
            provenance=self._provenance() if self.prov_store is not None else None,
        )

    def _provenance(self) -> ProvenanceSource:
        """The gateway's call records about a subject (the caller could read them: they name its
        execution, namespace or agents, which routing already checked it may see)."""
        store_of = self.prov_store
        assert store_of is not None

        async def read(*, since: datetime, execution_id: str | None, namespace: str | None,
                       agents: list[str]) -> tuple[list[Entry], list[Action]]:
            try:
                source = store_of()
                if hasattr(source, "flush"):  # a ProvWriter: write what it buffers (the call just made) first
                    await source.flush()
                    source = source.store
                return await provenance_entries(source, since=since, execution_id=execution_id,
                                                namespace=namespace, agents=agents, is_read=reads_only)
            except Exception:  # noqa: BLE001 - the node's timeline still stands without the gateway's records
                return [], []

        return read


class _Both:
    """Several `StepObserver`s as one: each step goes to every one, in order."""

    def __init__(self, observers: list[StepObserver]) -> None:
        self.observers = observers

    async def on_step(self, step: Step, report: DebugReport) -> None:
        for observer in self.observers:
            await observer.on_step(step, report)


def add_debug_tools(mcp: FastMCP, service: DebugService) -> None:
    """Register the debugging tools on the gateway's FastMCP server."""
    approvals = service.approvals

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False))
    async def debug_execution(ctx: Context, execution_id: str | None = None, namespace: str | None = None) -> DebugReport:
        """Diagnose a failed, stuck or unhealthy execution (or a namespace's testbed) and apply the
        fix the policy allows; an ASK fix asks you or waits for approve_fix. Returns every step
        with its rationale."""
        if not execution_id and not namespace:
            raise ToolError("give execution_id (e.g. stf_datataking-alice-0001) or namespace (a testbed to check)")
        principal = current_principal()
        if namespace and not principal.allows(namespace):
            raise ToolError(f"namespace {namespace!r} is not granted to {principal.user}; whoami lists yours")
        return await service.debugger_for(principal).debug(
            execution_id=execution_id, namespace=namespace, principal=principal.user, ask=_elicitation(ctx)
        )

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True))
    def list_pending_fixes() -> PendingFixes:
        """Fixes waiting for a human's approval, with their diagnosis."""
        principal = current_principal()
        items = [r for r in approvals.list() if principal.is_admin or r.principal == principal.user]
        return PendingFixes(items=items, total=len(items))

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True))
    def list_debug_sessions(namespace: str | None = None, limit: int = 20, cursor: str | None = None) -> DebugSessions:
        """Debugging sessions you may see, newest first, with their steps."""
        principal = current_principal()
        if namespace and not principal.allows(namespace):
            raise ToolError(f"namespace {namespace!r} is not granted to {principal.user}; whoami lists yours")
        try:
            return service.history.page(principal, namespace=namespace, limit=limit, cursor=cursor)
        except ValueError as error:
            raise ToolError(str(error)) from None

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True))
    async def approve_fix(approval_id: str) -> DebugReport:
        """Approve a pending fix (approval_id from list_pending_fixes): applied as you, then verified."""
        principal = current_principal()
        pending = {r.approval_id: r for r in approvals.list()}
        report = pending.get(approval_id)
        if report is None or (not principal.is_admin and report.principal != principal.user):
            # another principal's approval answers exactly like one that does not exist
            raise ToolError(f"approval_id {approval_id!r} is not pending; list_pending_fixes shows what is")
        return await service.debugger_for(principal).approve(approval_id, approver=principal.user)

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
    async def reject_fix(approval_id: str, reason: str | None = None) -> DebugReport:
        """Reject a pending fix (approval_id from list_pending_fixes): nothing is applied; the
        session ends 'declined'."""
        principal = current_principal()
        report = {r.approval_id: r for r in approvals.list()}.get(approval_id)
        if report is None or (not principal.is_admin and report.principal != principal.user):
            raise ToolError(f"approval_id {approval_id!r} is not pending; list_pending_fixes shows what is")
        report, _ = approvals.take(approval_id)
        step = Step(kind="decision", summary=f"rejected by {principal.user}" + (f": {reason}" if reason else ""),
                    data={"approval_id": approval_id})
        report.steps.append(step)
        report.outcome = "declined"
        service.history.record(report)
        if service.step_observer is not None:
            await service.step_observer(principal).on_step(step, report)
        return report
