"""One debugging session: evidence → diagnosis → decision → action → verification → report.

Bounded everywhere: one diagnosis (rules, else at most 7 LLM steps), at most ``max_attempts``
fixes, a bounded verification. Every step is handed to the ``StepObserver`` (provenance
records each with its rationale) and kept in the report.

A fix the policy sends to ASK is put to the human through ``ask`` (e.g. MCP elicitation) when
the caller can ask; otherwise it waits in ``Approvals`` until ``approve_fix`` resolves it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from datetime import timedelta

from agents.ai.debugger import baseline, intent, premise
from agents.ai.debugger import rules as rulebook
from agents.ai.debugger.evidence import Evidence, ProvenanceSource, ToolCaller, ToolFailed, gather
from agents.ai.debugger.fixes import fix_for
from agents.ai.debugger.policy import Policy, Verdict
from agents.ai.debugger.react import react
from agents.ai.debugger.rules import Diagnosis, FixProposal
from agents.ai.debugger.timeline import Entry
from agents.ai.llm import LLM

Outcome = Literal["healthy", "fixed", "reported", "awaiting_approval", "stopped", "declined", "undiagnosed", "fix_failed",
                  "not_verified", "refused"]
StepKind = Literal["evidence", "diagnosis", "decision", "action", "verification", "report"]


class Step(BaseModel):
    kind: StepKind
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class DebugReport(BaseModel):
    session_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    principal: str | None = None
    execution_id: str | None = None
    namespace: str | None = None
    diagnosis: Diagnosis | None = None
    fix: FixProposal | None = None
    verdict: Verdict | None = None
    undoes: str | None = Field(default=None, description="the principal's recent action the fix would undo (never AUTO)")
    cited: list[Entry] = Field(default_factory=list, description="the timeline entries the diagnosis cites")
    outcome: Outcome = "undiagnosed"
    result: dict[str, Any] | None = None
    approval_id: str | None = None
    steps: list[Step] = Field(default_factory=list)
    seconds_to_diagnosis: float | None = None
    seconds_to_fix: float | None = None


class StepObserver(Protocol):
    async def on_step(self, step: Step, report: DebugReport) -> None: ...


Ask = Callable[[str], Awaitable[bool | None]]


class Approvals:
    """Fixes waiting for a human; ``approve`` applies one, ``decline`` drops it."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[DebugReport, Evidence]] = {}

    def add(self, report: DebugReport, evidence: Evidence) -> str:
        """Keep a fix for approval; the same fix for the same subject and principal waits once."""
        key = _approval_key(report)
        for approval_id, (pending, _) in self.pending.items():
            if _approval_key(pending) == key:
                return approval_id
        approval_id = uuid.uuid4().hex[:12]
        self.pending[approval_id] = (report, evidence)
        return approval_id

    def list(self) -> list[DebugReport]:
        return [report for report, _ in self.pending.values()]

    def take(self, approval_id: str) -> tuple[DebugReport, Evidence]:
        try:
            return self.pending.pop(approval_id)
        except KeyError:
            known = ", ".join(self.pending) or "none pending"
            raise KeyError(f"approval_id {approval_id!r} is not pending (pending: {known})") from None


def _approval_key(report: DebugReport) -> tuple[Any, ...]:
    fix = report.fix
    return (report.principal, report.execution_id, report.namespace, fix.fix if fix else None,
            sorted((fix.arguments if fix else {}).items(), key=str))


def _without_rule(ev: Evidence, diffs: list[baseline.Difference]) -> Diagnosis | None:
    """No rule and no LLM: what differs from the config's earlier executions, else the latest
    errors and principals' actions, cited; None when there is nothing to say."""
    if diffs:
        summary, cites = baseline.explain(ev, diffs)
        return Diagnosis(failure="degraded", summary=summary, evidence=[d.text for d in diffs[:8]], cites=cites,
                         deliberate=[a.describe() for a in ev.actions[-3:]], diagnosed_by="baseline",
                         fixes=[FixProposal(fix="report_only", why="compare with the earlier runs: " + "; ".join(d.text for d in diffs[:3]))])
    errors = [e for e in ev.timeline if e.source == "log" and e.kind in ("ERROR", "CRITICAL", "WARNING")][-3:]
    slices = ev.metrics.slices if ev.metrics is not None else {}
    failed = [f"{slices['failed']} of {sum(slices.values())} slices failed"] if slices.get("failed") else []
    if not errors and not ev.actions and not failed:
        return None
    said = failed + [f"{e.kind} {e.actor}: {e.summary}" for e in errors] + [a.describe() for a in ev.actions[-2:]]
    return Diagnosis(failure="unknown", summary="No rule fits and no earlier execution of this config to compare; latest: "
                     + " | ".join(said), evidence=said, cites=[e.id for e in errors] + [a.entry_id for a in ev.actions[-2:]],
                     deliberate=[a.describe() for a in ev.actions[-2:]], diagnosed_by="baseline",
                     fixes=[FixProposal(fix="report_only", why="read the cited entries (get_execution_timeline)")])


def _healthy(evidence: Evidence) -> bool:
    """Nothing failed: no error texts, no failed tool, no failed slice, and the execution (if any) did not fail.

    Failed slices are read from the metrics (the store's slice rows), not only from the log lines
    about them: an agent's log lines reach the store up to one flush interval after its results.
    """
    failed_slices = evidence.metrics.slices.get("failed", 0) if evidence.metrics is not None else 0
    return not evidence.texts() and not failed_slices and evidence.status not in ("failed", "terminated")


class Debugger:
    """Runs debugging sessions through a ``ToolCaller``."""

    def __init__(
        self,
        tools: ToolCaller,
        *,
        policy: Policy | None = None,
        llm: LLM | None = None,
        observer: StepObserver | None = None,
        approvals: Approvals | None = None,
        max_attempts: int = 2,
        verify_checks: int = 10,
        verify_interval_s: float = 0.5,
        provenance: ProvenanceSource | None = None,
    ) -> None:
        self.tools = tools
        self.provenance = provenance
        self.policy = policy or Policy()
        self.llm = llm
        self.observer = observer
        self.approvals = approvals or Approvals()
        self.max_attempts = max_attempts
        self.verify_checks = verify_checks
        self.verify_interval_s = verify_interval_s

    async def _step(self, report: DebugReport, kind: StepKind, summary: str, **data: Any) -> None:
        step = Step(kind=kind, summary=summary, data=data)
        report.steps.append(step)
        if self.observer is not None:
            await self.observer.on_step(step, report)

    async def debug(
        self,
        *,
        execution_id: str | None = None,
        namespace: str | None = None,
        principal: str | None = None,
        ask: Ask | None = None,
    ) -> DebugReport:
        """Diagnose and, as the policy allows, fix; returns the report."""
        started = asyncio.get_running_loop().time()
        report = DebugReport(principal=principal, execution_id=execution_id, namespace=namespace)
        evidence = await gather(self.tools, execution_id=execution_id, namespace=namespace, provenance=self.provenance)
        report.namespace = evidence.namespace
        await self._step(
            report, "evidence",
            f"gathered: {len(evidence.agents)} agents, {len(evidence.logs)} warnings/errors, "
            f"{len(evidence.timeline)} timeline entries, {len(evidence.actions)} principals' actions",
            tool_errors=evidence.tool_errors, status=evidence.status,
            actions=[a.describe() for a in evidence.actions[-5:]],
        )
        diagnosis = rulebook.diagnose(evidence)
        diffs: list[baseline.Difference] = []
        if diagnosis is None and evidence.metrics is not None:
            evidence.baseline = await baseline.previous(self.tools, evidence)
            diffs = baseline.compare(evidence.metrics, evidence.baseline)
        if diagnosis is None and not diffs and _healthy(evidence):
            report.seconds_to_diagnosis = asyncio.get_running_loop().time() - started
            report.outcome = "healthy"
            compared = f"; like the config's {len(evidence.baseline)} previous executions" if evidence.baseline else ""
            await self._step(report, "diagnosis", f"healthy: no rule matched, no errors, nothing running late{compared}")
            await self._step(report, "report", "nothing to fix")
            return report
        refused: tuple[str, str] | None = None  # (the model's fix, why its citations do not hold)
        if diagnosis is None and self.llm is not None and self.llm.configured:
            diagnosis, _ = await react(self.llm, self.tools, evidence, differences=[d.text for d in diffs])
            if diagnosis is not None:
                problem = premise.citation_problem(diagnosis, evidence)
                if problem is not None and diagnosis.fixes and diagnosis.fixes[0].fix != "report_only":
                    refused = (diagnosis.fixes[0].fix, problem)
                    diagnosis.fixes = [FixProposal(fix="report_only", why=f"the model's fix was refused ({problem})")]
        if diagnosis is None:
            diagnosis = _without_rule(evidence, diffs)
        report.seconds_to_diagnosis = asyncio.get_running_loop().time() - started
        if diagnosis is None:
            await self._step(report, "diagnosis", "no rule matched" + ("" if self.llm and self.llm.configured else " and no LLM is configured"))
            report.outcome = "undiagnosed"
            await self._step(report, "report", "undiagnosed: no rule, no earlier execution to compare, no error to show")
            return report
        report.diagnosis = diagnosis
        report.cited = [e for c in diagnosis.cites if (e := evidence.entry(c)) is not None]
        await self._step(
            report, "diagnosis", diagnosis.summary, failure=diagnosis.failure, by=diagnosis.diagnosed_by,
            evidence=diagnosis.evidence, rules_considered=diagnosis.rules_considered, cites=diagnosis.cites,
            deliberate=diagnosis.deliberate,
        )
        if refused is not None:
            await self._step(report, "decision", f"the model's fix is refused: {refused[1]}", fix=refused[0])
        if not diagnosis.fixes:
            report.outcome = "reported"
            await self._step(report, "report", f"{diagnosis.failure}: no fix in the catalog")
            return report
        report.fix = diagnosis.fixes[0]
        fix = fix_for(report.fix)
        report.verdict = self.policy.verdict(fix, principal)
        alternatives = [p.fix for p in diagnosis.fixes[1:]]
        if fix.name != "report_only":
            contradicted = premise.contradiction(report.fix, evidence)
            if contradicted is not None:
                report.outcome = "refused"
                await self._step(report, "decision", f"{fix.name} refused: the evidence contradicts its premise ({contradicted})",
                                 fix=fix.name, contradiction=contradicted)
                await self._step(report, "report", f"{fix.name} not applied: {contradicted}")
                return report
            undone = intent.undone_by(report.fix, evidence, timedelta(seconds=self.policy.intent_window_s))
            if undone is not None:
                report.undoes = undone.describe()
                if report.verdict == "AUTO":
                    report.verdict = "ASK"
        await self._step(
            report, "decision", f"{fix.name} ({fix.scope}) → {report.verdict}"
            + (f": it would undo what was {report.undoes}" if report.undoes else ""), fix=fix.name, scope=fix.scope,
            arguments=report.fix.arguments, rationale=report.fix.why, alternatives=alternatives, undoes=report.undoes,
        )
        if fix.name == "report_only":
            report.result = await fix.apply(self.tools, report.fix, evidence)
            report.outcome = "reported"
            await self._step(report, "report", report.fix.why)
            return report
        if report.verdict == "STOP":
            report.outcome = "stopped"
            await self._step(report, "report", f"policy STOP: {fix.name} not applied; {report.fix.why}")
            return report
        if report.verdict == "ASK":
            undo = f" It would undo what was {report.undoes}." if report.undoes else ""
            answer = await ask(f"Apply {fix.name} {report.fix.arguments}? ({diagnosis.summary}){undo}") if ask else None
            if answer is None:
                report.approval_id = self.approvals.add(report, evidence)
                report.outcome = "awaiting_approval"
                await self._step(report, "report", f"waiting for approve_fix({report.approval_id!r})")
                return report
            if not answer:
                report.outcome = "declined"
                await self._step(report, "report", "the human declined the fix")
                return report
        await self._apply_and_verify(report, evidence)
        report.seconds_to_fix = asyncio.get_running_loop().time() - started
        return report

    async def approve(self, approval_id: str, approver: str | None = None) -> DebugReport:
        """Apply a pending fix after a human approved it."""
        report, evidence = self.approvals.take(approval_id)
        await self._step(report, "decision", f"approved by {approver or 'a human'}", approval_id=approval_id)
        await self._apply_and_verify(report, evidence)
        return report

    async def _apply_and_verify(self, report: DebugReport, evidence: Evidence) -> None:
        assert report.fix is not None and report.diagnosis is not None
        fix = fix_for(report.fix)
        for attempt in range(1, self.max_attempts + 1):
            try:
                report.result = await fix.apply(self.tools, report.fix, evidence)
            except (ToolFailed, KeyError) as exc:
                await self._step(report, "action", f"{fix.name} failed: {exc}", attempt=attempt)
                report.outcome = "fix_failed"
                continue
            await self._step(report, "action", f"applied {fix.name}", attempt=attempt, result=report.result)
            if await self._verified(report):
                report.outcome = "fixed"
                await self._step(report, "report", f"fixed {report.diagnosis.failure} with {fix.name}")
                return
            report.outcome = "not_verified"
        await self._step(report, "report", f"{fix.name} did not clear {report.diagnosis.failure} after {self.max_attempts} attempts")

    async def _verified(self, report: DebugReport) -> bool:
        """The failure's rule no longer matches (re-gathered evidence), within a bounded wait."""
        assert report.diagnosis is not None
        rule = next((r for r in rulebook.CATALOG if r.__name__ == report.diagnosis.failure), None)
        for check in range(self.verify_checks):
            await asyncio.sleep(self.verify_interval_s if check else 0)
            evidence = await gather(self.tools, execution_id=report.execution_id, namespace=report.namespace,
                                    provenance=self.provenance)
            still = rule(evidence) if rule is not None else None
            if still is None:
                await self._step(report, "verification", "the failure no longer shows", check=check + 1)
                return True
        await self._step(report, "verification", "the failure still shows", checks=self.verify_checks)
        return False
