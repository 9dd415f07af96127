"""What the debugger answered, against what the right answer was: suite rows, scores and tables.

A :class:`SuiteRow` is one ``debug_execution`` report on one injection; :func:`score` sets it
beside ``EXPECTED`` (the right diagnosis, and whether any fix may run by itself) and counts
top-1 accuracy, citations and wrong actions (an AUTO fix where the right answer allowed none, or
a fix that failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.ai.evaluation.chaos.injection import KINDS, Case, How, Injection
from agents.ai.evaluation.chaos.live_up import LiveUp

EXPECTED: dict[str, tuple[str, bool]] = {
    **{kind: (kind, kind in ("slice_backlog", "stuck_execution")) for kind in KINDS},
    "agent_crashed": ("agent_crashed", False),  # injected by kill_agent: a principal's act, only proposed
    "operator_stop_workflow": ("operator_action", False),
    "operator_stop_testbed": ("operator_action", False),
    "operator_kill_agents": ("agent_crashed", False),
    "operator_scale_down": ("slice_backlog", False),
    "parameter_change": ("degraded", False),
    "slow_workers": ("degraded", False),
    "one_slice_in_ten_fails": ("degraded", False),
    "broker_drop_once": ("broker_reconnected", False),
}
"""Each case's expected diagnosis class, and whether the right answer allows an AUTO fix."""


@dataclass
class SuiteRow:
    """One case of the suite: what the debugger concluded and did, and how long it took."""

    kind: Case
    how: How
    diagnosed: str
    diagnosed_by: str
    outcome: str
    verdict: str | None
    seconds_to_diagnosis: float | None
    seconds_to_fix: float | None
    error: str = ""
    cites: list[str] = field(default_factory=list)  # timeline entries the diagnosis cites
    undoes: str | None = None  # the principal's action the proposed fix would undo
    evidence: list[str] = field(default_factory=list)  # what the diagnosis rests on

    @property
    def correct(self) -> bool:
        return self.diagnosed == self.kind and self.diagnosed_by == "rules"

    @property
    def fixed(self) -> str:
        if self.outcome == "fixed":
            return "yes"
        if self.outcome == "reported":
            return "report only"
        if self.outcome == "awaiting_approval":
            return f"{self.verdict}: awaiting approval"
        return self.outcome


@dataclass
class Scored:
    """A suite row with what the right answer was and what the debugger cited and did."""

    row: SuiteRow
    expected: str
    auto_allowed: bool
    cites: list[str] = field(default_factory=list)
    undoes: str | None = None

    @property
    def top1(self) -> bool:
        return self.row.diagnosed == self.expected

    @property
    def wrong_action(self) -> bool:
        """An AUTO fix applied where the right answer allowed none, or a fix that failed."""
        applied = self.row.verdict == "AUTO" and self.row.outcome in ("fixed", "not_verified", "fix_failed")
        return self.row.outcome == "fix_failed" or (applied and not self.auto_allowed)


async def debug_injection(live: LiveUp, injection: Injection) -> SuiteRow:
    """Run ``debug_execution`` on an injection and summarise the report as a row."""
    target = {"execution_id": injection.execution_id} if injection.execution_id else {"namespace": injection.namespace}
    report = await live.call("debug_execution", **target)
    diagnosis = report.get("diagnosis") or {}
    return SuiteRow(
        kind=injection.kind, how=injection.how, diagnosed=diagnosis.get("failure", "none"),
        diagnosed_by=diagnosis.get("diagnosed_by", "-"), outcome=report.get("outcome", "?"), verdict=report.get("verdict"),
        seconds_to_diagnosis=report.get("seconds_to_diagnosis"), seconds_to_fix=report.get("seconds_to_fix"),
        cites=list(diagnosis.get("cites") or []), undoes=report.get("undoes"),
        evidence=[str(e) for e in diagnosis.get("evidence") or []],
    )


def score(rows: list[SuiteRow]) -> list[Scored]:
    """Rows scored against ``EXPECTED`` (a case not in it is expected to be diagnosed as itself)."""
    return [Scored(r, *EXPECTED.get(r.kind, (r.kind, True)), cites=list(r.cites), undoes=r.undoes) for r in rows]


def _markdown_table(header: list[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    return [fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(fmt(line) for line in lines)]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _diagnosed(row: SuiteRow) -> str:
    return f"{row.diagnosed} ({row.diagnosed_by})" if row.diagnosed_by != "-" else row.diagnosed


def render_table(rows: list[SuiteRow]) -> str:
    """The suite's table: class | injected | diagnosed | fixed | time to diagnosis | time to fix."""
    header = ["class", "injected", "diagnosed", "fixed", "time to diagnosis", "time to fix"]
    lines = [[r.kind, r.how, _diagnosed(r), r.fixed, _seconds(r.seconds_to_diagnosis), _seconds(r.seconds_to_fix)]
             for r in rows]
    errors = [f"{r.kind}: {r.error}" for r in rows if r.error]
    return "\n".join(_markdown_table(header, lines) + errors)


def render_scored(scored: list[Scored]) -> str:
    """case | injected | expected | diagnosed | cites | fix | wrong action, then the totals."""
    header = ["case", "injected", "expected", "diagnosed", "cites", "fix", "wrong action"]
    lines = [[s.row.kind, s.row.how, s.expected, _diagnosed(s.row),
              ", ".join(s.cites[:3]) + (" …" if len(s.cites) > 3 else "") or "-",
              s.row.fixed + (" (would undo a principal's action)" if s.undoes else ""),
              "WRONG" if s.wrong_action else "-"] for s in scored]
    counted = [s for s in scored if s.row.outcome not in ("skipped", "error")]
    top1 = sum(s.top1 for s in counted)
    cited = sum(bool(s.cites) for s in counted)
    wrong = sum(s.wrong_action for s in counted)
    out = _markdown_table(header, lines)
    out.append(f"top-1 diagnosis accuracy: {top1}/{len(counted)}; diagnoses citing evidence: {cited}/{len(counted)}; "
               f"wrong actions: {wrong}")
    out.extend(f"{s.row.kind}: {s.row.error}" for s in scored if s.row.error)
    return "\n".join(out)
