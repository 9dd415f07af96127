"""PROV-AGENT for the AI agents: model invocations and debugging steps become records.

Two small observers bridge the AI agents' hooks to ``prov_agent.Recorder``:

* ``ProvInvocations`` (an ``InvocationObserver``): each LLM call → AIModelInvocation that used a
  Prompt and the AIModel, and generated ResponseData, associated with the AI agent.
* ``ProvSteps`` (a ``StepObserver``): each debugging step → a Decision (diagnosis, decision,
  verification, report) or a tool call (action), linked by wasInformedBy to the step before,
  so the chain evidence → diagnosis → decision → action → result can be walked backwards.

The AI agent is declared once as acting on behalf of the human principal (actedOnBehalfOf).
"""

from __future__ import annotations

import json
from typing import Any

from agents.ai.debugger.loop import DebugReport, Step
from agents.ai.llm import Invocation
from prov_agent.model import AIAgent, AIModel, Person
from prov_agent.recorder import Recorder


def _prompt_text(invocation: Invocation) -> str:
    last = invocation.messages[-1] if invocation.messages else {}
    content = last.get("content", "")
    if isinstance(content, str):
        return content
    return json.dumps(content, default=str)[:4000]


class ProvInvocations:
    """Records every LLM invocation of one AI agent acting for one person."""

    def __init__(self, recorder: Recorder, *, principal: str | None = None, provider: str = "anthropic") -> None:
        self.recorder = recorder
        self.person = Person(user=principal) if principal else None
        self.provider = provider
        self._declared: set[str] = set()

    async def on_invocation(self, invocation: Invocation) -> None:
        agent = AIAgent(name=invocation.agent)
        if invocation.agent not in self._declared:
            self.recorder.declare(agent, on_behalf_of=self.person)
            self._declared.add(invocation.agent)
        try:
            with self.recorder.model_invocation(
                agent, AIModel(name=invocation.model, provider=self.provider), _prompt_text(invocation)
            ) as record:
                reply = invocation.reply
                if reply is not None:
                    record.latency_ms = reply.latency_s * 1000.0
                    record.response(reply.text or json.dumps(reply.content, default=str)[:4000],
                                    tokens_in=reply.usage.input_tokens, tokens_out=reply.usage.output_tokens,
                                    stop_reason=reply.stop_reason)
                elif invocation.error:
                    raise _InvocationFailed(invocation.error)
        except _InvocationFailed:
            pass


class _InvocationFailed(Exception):
    """Carries a failed invocation's error into the recorder's error attribute."""


class ProvSteps:
    """Records each debugging step of one session as Decision / tool-call records."""

    def __init__(self, recorder: Recorder, *, agent_name: str = "controlroom-debugger", principal: str | None = None) -> None:
        self.recorder = recorder
        self.agent = AIAgent(name=agent_name)
        self.person = Person(user=principal) if principal else None
        self.last_id: str | None = None
        self.ids: list[str] = []
        recorder.declare(self.agent, on_behalf_of=self.person)

    async def on_step(self, step: Step, report: DebugReport) -> None:
        informed = [self.last_id] if self.last_id else []
        if step.kind == "action":
            with self.recorder.tool_call(
                self.agent, report.fix.fix if report.fix else "fix", report.fix.arguments if report.fix else {},
                on_behalf_of=self.person, informed_by=informed,
            ) as call:
                if "failed" in step.summary:
                    call.failed("is_error", step.summary)
            ident = call.id
        else:
            chosen, alternatives = _choice(step, report)
            ident = self.recorder.decision(
                self.agent, chosen, f"[{step.kind}] {step.summary}", alternatives, informed_by=informed
            )
        self.last_id = ident
        self.ids.append(ident)


def _choice(step: Step, report: DebugReport) -> tuple[str, list[str]]:
    data: dict[str, Any] = step.data
    if step.kind == "diagnosis" and report.diagnosis is not None:
        considered = [r for r in data.get("rules_considered", []) if r != report.diagnosis.failure]
        return f"diagnosis: {report.diagnosis.failure}", considered
    if step.kind == "decision":
        return f"{data.get('fix', report.fix.fix if report.fix else 'fix')}: {report.verdict}", list(data.get("alternatives", []))
    if step.kind == "report":
        return f"outcome: {report.outcome}", []
    return step.kind, []
