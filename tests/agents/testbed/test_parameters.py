"""One declaration of a workflow's parameters: the agents read the workflow's pydantic model."""

from __future__ import annotations

import asyncio

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.testbed.errors import InvalidRequest
from agents.testbed.execution_parameters import ExecutionParameters, ParameterCache, TestbedKnobs
from workflows.params import FastProcessingParameters
from workflows.store.records import ExecutionRecord
from workflows.store.store import Store

ROOT = Path(__file__).resolve().parents[3]


def _record(parameters: dict[str, Any], realtime: bool = False) -> ExecutionRecord:
    return ExecutionRecord(execution_id="stf_datataking-alice-0001", workflow_name="stf_datataking", namespace="alice",
                           executed_by="alice", config={}, config_hash="h", parameters=parameters, realtime=realtime,
                           status="running", start_time=datetime.now(UTC))


def test_a_parameter_the_execution_does_not_carry_takes_the_workflow_models_default() -> None:
    params = ExecutionParameters.from_record(_record({}))
    defaults = FastProcessingParameters()
    for name in FastProcessingParameters.model_fields:
        assert getattr(params, name) == getattr(defaults, name), name
    assert (params.realtime_factor, params.slice_failure_rate, params.duration) == (1.0, 0.0, 0.0)


def test_stored_parameters_and_knobs_are_read_and_unknown_keys_ignored() -> None:
    params = ExecutionParameters.from_record(_record(
        {"slices_per_sample": 3, "tfs_per_stf": 40, "stf_sampling_rate": 0.5, "realtime_factor": 0.5,
         "some_task_parameter": "x"}, realtime=True))
    assert (params.slices_per_sample, params.tf_sample_size(), params.wall_seconds(4.0)) == (3, 20, 2.0)
    assert params.execution_id == "stf_datataking-alice-0001" and params.namespace == "alice"


def test_changing_a_default_in_workflows_params_changes_what_the_agents_read() -> None:
    """Load workflows/params.py with one default edited, then read an execution as the agents do."""
    code = textwrap.dedent('''
        import pathlib, sys, types
        from datetime import UTC, datetime
        source = pathlib.Path("workflows/params.py").read_text()
        old = "slices_per_sample: int = Field(15,"
        assert source.count(old) == 1, "the default this test edits moved"
        module = types.ModuleType("workflows.params")
        module.__file__ = "workflows/params.py"
        import workflows
        sys.modules["workflows.params"] = module
        exec(compile(source.replace(old, "slices_per_sample: int = Field(7,"), module.__file__, "exec"), module.__dict__)
        from agents.testbed.execution_parameters import ExecutionParameters
        from workflows.store.records import ExecutionRecord
        record = ExecutionRecord(execution_id="e", workflow_name="w", namespace="n", executed_by="u", config={},
                                 config_hash="h", parameters={}, realtime=False, status="running",
                                 start_time=datetime.now(UTC))
        print(ExecutionParameters.from_record(record).slices_per_sample)
    ''')
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "7"


def test_the_agents_declare_no_workflow_parameter_of_their_own() -> None:
    own = set(ExecutionParameters.__annotations__)  # declared in the class body, not inherited
    assert own == {"execution_id", "namespace", "realtime"}


async def test_the_cache_reads_the_stored_execution_once(store: Store) -> None:
    await store.namespaces.ensure("alice")
    record = await store.executions.create("stf_datataking", "alice", "alice", {}, "h", "s",
                                           {"stf_count": 2, "slice_failure_rate": 0.25}, False)
    cache = ParameterCache(store)
    params = await cache.get(record.execution_id)
    assert (params.stf_count, params.slice_failure_rate, params.slices_per_sample) == (
        2, 0.25, FastProcessingParameters().slices_per_sample)
    assert await cache.get(record.execution_id) is params


async def test_caches_on_one_store_share_one_read(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool of workers asking at once reads the execution once; a reader cancelled mid-read
    (its agent stopped) does not fail the others: they read again."""
    await store.namespaces.ensure("alice")
    record = await store.executions.create("stf_datataking", "alice", "alice", {}, "h", "s", {"stf_count": 3}, False)
    reads = 0
    real_get = store.executions.get

    async def counted_get(execution_id: str) -> Any:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05)
        return await real_get(execution_id)

    monkeypatch.setattr(store.executions, "get", counted_get)
    caches = [ParameterCache(store) for _ in range(30)]
    first = asyncio.ensure_future(caches[0].get(record.execution_id))
    await asyncio.sleep(0.01)
    others = [asyncio.ensure_future(c.get(record.execution_id)) for c in caches[1:]]
    await asyncio.sleep(0.01)
    first.cancel()
    results = await asyncio.gather(*others)
    assert {r.stf_count for r in results} == {3}
    assert reads == 2  # the cancelled read, then one read for the 29 others
    assert await ParameterCache(store).get(record.execution_id) is results[0]
    assert reads == 2


@pytest.mark.parametrize(("key", "value"), [("realtime_factor", 0), ("slice_failure_rate", 1.5), ("duration", -1),
                                            ("slice_failure_rate", True), ("realtime_factor", "fast")])
def test_a_bad_knob_is_refused_naming_it_and_its_bounds(key: str, value: Any) -> None:
    with pytest.raises(InvalidRequest, match=rf"parameters\.{key}: must be a number between"):
        TestbedKnobs.split({key: value})


def test_split_keeps_the_workflows_parameters_apart_from_the_knobs_given() -> None:
    workflow, knobs = TestbedKnobs.split({"stf_count": 5, "realtime_factor": 2, "slice_failure_rate": 0.1})
    assert workflow == {"stf_count": 5}
    assert knobs == {"realtime_factor": 2.0, "slice_failure_rate": 0.1}
