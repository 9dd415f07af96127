"""The LLM's turn: a bounded ReAct loop over read-only tools, for failures no rule knows.

At most ``max_steps`` model turns. The model may call only the read-only tools it is given;
anything else is refused back to it. It ends by calling ``conclude`` with a failure class, a
summary and (optionally) a fix from the catalog, which then goes through the same policy gate
as a rule's proposal.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from agents.ai.debugger.evidence import Evidence, ToolCaller, ToolFailed
from agents.ai.debugger.fixes import CATALOG
from agents.ai.debugger.rules import Diagnosis, FailureClass, FixProposal
from agents.ai.debugger.timeline import render
from agents.ai.llm import LLM, ToolSpec

TIMELINE_TOKENS = 2500  # the timeline's share of the first prompt (about 4 characters a token)

READ_ONLY_TOOLS: dict[str, str] = {
    "get_workflow_execution": "An execution's record: status, parameters, error. Args: execution_id.",
    "get_workflow_monitor": "Live monitor of an execution: phase, STF/TF/slice counts, recent events. Args: execution_id.",
    "list_logs": "Agent log entries. Args: execution_id, agent, level (minimum), search, limit.",
    "list_messages": "Bus messages. Args: namespace, execution_id, msg_type, limit.",
    "list_agents": "Agents with status and last heartbeat. Args: namespace.",
    "get_testbed_status": "The namespace's testbed, with a ready flag. Args: namespace.",
    "list_tf_slices": "Slices of an execution. Args: execution_id, status, limit.",
    "get_execution_timeline": "Older pages of the timeline. Args: execution_id or namespace, cursor, limit.",
}

SYSTEM = (
    "You diagnose failures of a streaming-workflow testbed (a DAQ simulator, data, processing, "
    "fastmon and fast-processing agents, slice workers, over a message bus). Gather evidence with "
    "the read-only tools, then call `conclude` exactly once. Be brief; do not guess when evidence "
    "can decide. The timeline lists who did what (gateway calls with principal, client and reason) and what "
    "the testbed did, each line with an id: cite the ids your diagnosis rests on in `cites`. A stop, kill or "
    "scale done by a person is intent, not a failure: do not propose a fix that undoes it."
)


def _conclude_tool() -> ToolSpec:
    return ToolSpec(
        name="conclude",
        description="Give the diagnosis and, when one fits, a fix from the catalog.",
        input_schema={
            "type": "object",
            "properties": {
                "failure": {"type": "string", "enum": list(get_args(FailureClass))},
                "summary": {"type": "string"},
                "evidence": {"type": "array", "items": {"type": "string"}},
                "cites": {"type": "array", "items": {"type": "string"}, "description": "timeline entry ids (e.g. c1a2b3c4, l42, s7)"},
                "fix": {"type": "string", "enum": sorted(CATALOG)},
                "fix_arguments": {"type": "object"},
                "why": {"type": "string"},
            },
            "required": ["failure", "summary", "cites"],
        },
    )


def _tools() -> list[ToolSpec]:
    specs = [
        ToolSpec(name=name, description=text, input_schema={"type": "object", "additionalProperties": True})
        for name, text in READ_ONLY_TOOLS.items()
    ]
    return specs + [_conclude_tool()]


def prompt(evidence: Evidence, differences: list[str], budget_tokens: int = TIMELINE_TOKENS) -> str:
    """The first message: a compact snapshot, the principals' actions, the baseline differences and
    the timeline (newest entries kept within ``budget_tokens``)."""
    snapshot = evidence.model_dump(
        mode="json", exclude_none=True,
        include={"namespace", "execution_id", "tool_errors", "metrics"},
    )
    snapshot["status"] = evidence.status
    snapshot["error"] = (evidence.execution or {}).get("error")
    snapshot["agents_down"] = [f"{a.name} {a.status} restarts={a.restarts}" for a in evidence.agents if a.status not in ("READY", "PROCESSING")]
    snapshot["slices"] = (evidence.monitor or {}).get("slices")
    parts = [
        "No rule of the failure catalog matched. Snapshot:\n" + json.dumps(snapshot, default=str)[:3000],
        "Principals' actions:\n" + ("\n".join(a.describe() for a in evidence.actions) or "none"),
        "Differences from the config's previous executions:\n" + ("\n".join(differences) or "none known"),
        f"Timeline ({len(evidence.timeline)} entries, oldest first; cite ids):\n" + render(evidence.timeline, budget_tokens * 4),
    ]
    return "\n\n".join(parts)


async def react(
    llm: LLM, tools: ToolCaller, evidence: Evidence, *, max_steps: int = 7, differences: list[str] | None = None,
    budget_tokens: int = TIMELINE_TOKENS,
) -> tuple[Diagnosis | None, list[dict[str, Any]]]:
    """Run the loop; returns the diagnosis (None when the model did not conclude) and the transcript."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt(evidence, differences or [], budget_tokens)}]
    for _ in range(max_steps):
        reply = await llm.reply(system=SYSTEM, messages=messages, tools=_tools(), agent="debugger")
        messages.append({"role": "assistant", "content": reply.content or [{"type": "text", "text": reply.text}]})
        if not reply.tool_calls:
            messages.append({"role": "user", "content": "Call `conclude` now with your diagnosis."})
            continue
        results: list[dict[str, Any]] = []
        for call in reply.tool_calls:
            if call.name == "conclude":
                return _diagnosis(call.input), messages
            if call.name not in READ_ONLY_TOOLS:
                content, is_error = f"{call.name} is not available: only read-only tools may be used while diagnosing", True
            else:
                try:
                    content, is_error = json.dumps(await tools.call(call.name, call.input), default=str)[:8000], False
                except ToolFailed as exc:
                    content, is_error = str(exc), True
            results.append({"type": "tool_result", "tool_use_id": call.id, "content": content, "is_error": is_error})
        messages.append({"role": "user", "content": results})
    return None, messages


def _diagnosis(arguments: dict[str, Any]) -> Diagnosis:
    failure = arguments.get("failure")
    if failure not in get_args(FailureClass):
        failure = "unknown"
    fixes = []
    if arguments.get("fix") in CATALOG:
        fixes.append(FixProposal(fix=arguments["fix"], arguments=dict(arguments.get("fix_arguments") or {}), why=str(arguments.get("why", ""))))
    return Diagnosis(
        failure=failure,
        summary=str(arguments.get("summary", "")),
        evidence=[str(e) for e in arguments.get("evidence") or []],
        cites=[str(c) for c in arguments.get("cites") or []],
        fixes=fixes,
        diagnosed_by="llm",
    )
