"""AI agents' provenance: LLM invocations and debugging steps recorded through the real prov store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agents.ai.anthropic_llm import AnthropicLLM
from agents.ai.debugger.evidence import AgentView, Evidence
from agents.ai.debugger.loop import DebugReport, Step
from agents.ai.debugger.rules import diagnose
from agents.ai.provenance import ProvInvocations, ProvSteps
from agents.ai.settings import AISettings
from prov_agent.queries import Scope, lineage, timeline
from prov_agent.recorder import Recorder
from prov_agent.store import ProvStore, engine_for
from prov_agent.writer import ProvWriter
from tests.agents.ai.messages_api import ScriptedMessagesAPI, Turn


@pytest.fixture
def api() -> Iterator[ScriptedMessagesAPI]:
    server = ScriptedMessagesAPI([])
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ProvStore]:
    engine = engine_for(state_dir=tmp_path)
    prov = ProvStore(engine)
    await prov.create_schema()
    yield prov
    await engine.dispose()


async def test_invocations_are_recorded_on_behalf_of_the_principal(api: ScriptedMessagesAPI, store: ProvStore) -> None:
    api.script = [Turn(text="It ran out of workers.")]
    async with ProvWriter(store, flush_interval=0.05) as writer:
        observer = ProvInvocations(Recorder(writer, stream="session-1"), principal="alice")
        llm = AnthropicLLM(AISettings(api_key="test-key", base_url=api.url, model="claude-test", max_retries=0), observer=observer)
        await llm.reply(system="s", messages=[{"role": "user", "content": "why?"}], agent="debugger")
        await llm.aclose()
    page = await timeline(store, Scope.parse("stream:session-1"))
    kinds = [r.kind for r in page.items]
    assert kinds == ["declaration", "model_invocation"]
    classes = {e.cls for r in page.items for e in r.elements}
    assert {"AIAgent", "Person", "AIModel", "AIModelInvocation", "Prompt", "ResponseData"} <= classes
    relations = {(rel.rel, rel.dst) for r in page.items for rel in r.relations}
    assert ("actedOnBehalfOf", "controlroom:person/alice") in relations
    assert (await store.verify()).ok


async def test_debug_steps_form_a_walkable_chain(store: ProvStore) -> None:
    evidence = Evidence(namespace="ns1", agents=[AgentView(name="data-agent-ns1-1", status="EXITED")])
    report = DebugReport(namespace="ns1", diagnosis=diagnose(evidence))
    assert report.diagnosis is not None
    report.fix = report.diagnosis.fixes[0]
    report.verdict = "AUTO"
    async with ProvWriter(store, flush_interval=0.05) as writer:
        steps = ProvSteps(Recorder(writer, stream="debug-1"), principal="alice")
        for kind, summary in [("evidence", "gathered"), ("diagnosis", "agent crashed"), ("decision", "restart_agent → AUTO"),
                              ("action", "applied restart_agent"), ("verification", "the failure no longer shows"), ("report", "fixed")]:
            await steps.on_step(Step(kind=kind, summary=summary, data={"rules_considered": report.diagnosis.rules_considered}), report)  # type: ignore[arg-type]
    walked = await lineage(store, steps.ids[-1])
    # the report's decision leads back through verification, action, decision and diagnosis to the evidence
    assert set(steps.ids[:-1]) <= set(walked.activities) | set(walked.tool_calls) | set(walked.decisions)
    assert "controlroom:person/alice" in walked.persons
    assert (await store.verify()).ok
