"""Checking a diagnosis against the evidence before any fix is applied.

Every fix rests on a premise the evidence can contradict: ``restart_agent`` on an agent that is
down, ``scale_workers`` on slices that wait, ``end_execution`` on an execution that runs. A fix
whose premise the timeline contradicts is refused (``contradiction`` returns why). A diagnosis
from the LLM must also cite entries of the timeline it was given; citing none, or ids that are
not there, refuses its fix too (``citation_problem``).
"""

from __future__ import annotations

from agents.ai.debugger.evidence import Evidence
from agents.ai.debugger.rules import Diagnosis, FixProposal

UP = ("READY", "PROCESSING", "IDLE")


def contradiction(proposal: FixProposal, ev: Evidence) -> str | None:
    """Why the evidence contradicts the premise of ``proposal`` (None when it does not)."""
    args = proposal.arguments
    if proposal.fix == "restart_agent":
        name = args.get("name")
        agent = next((a for a in ev.agents if a.name == name), None)
        if agent is None:
            return f"agent {name!r} is not among the namespace's agents"
        if agent.status in UP:
            return f"agent {name} is {agent.status}, not down"
        if (ev.testbed or {}).get("status") in ("stopped", "stopping"):
            return f"the testbed of {ev.namespace} is {ev.testbed['status']}: restarting one agent cannot help"
    if proposal.fix == "scale_workers":
        queued = int(((ev.monitor or {}).get("slices") or {}).get("queued", 0))
        if ev.monitor is not None and queued == 0 and not ev.mentions("slice timeout", "timed out"):
            return "no slice is waiting for a worker"
    if proposal.fix == "end_execution" and ev.status not in (None, "running", "pending"):
        return f"the execution is already {ev.status}"
    if proposal.fix == "rerun_with_parameter" and ev.status == "completed":
        return "the execution completed: its parameters did not fail it"
    if proposal.fix == "restart_testbed" and (ev.testbed or {}).get("ready") and not any(a.status not in UP for a in ev.agents):
        return "the testbed is ready and every agent is up"
    return None


def citation_problem(diagnosis: Diagnosis, ev: Evidence) -> str | None:
    """Why an LLM diagnosis's citations do not hold (None when each names an entry that exists)."""
    if not diagnosis.cites:
        return "the diagnosis cites no timeline entry"
    known = {e.id for e in ev.timeline}
    unknown = [c for c in diagnosis.cites if c not in known and not c.startswith(("tool:", "m:"))]
    if unknown:
        return f"the diagnosis cites entries that are not in the timeline: {', '.join(unknown[:5])}"
    return None
