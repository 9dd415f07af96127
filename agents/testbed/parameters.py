"""What an agent needs to know about an execution, loaded from the store once per execution.

Agents receive only an ``execution_id`` in their messages (as in the reference testbed) and
read the execution's effective parameters from the store. :class:`ExecutionParameters` is the
agents' view: the workflow's validated parameters (``workflows.params``) plus the testbed-level
knobs that belong to the run rather than the DAQ (``realtime_factor``: wall seconds per simulated
second in real time; ``slice_failure_rate``: fraction of slice payloads that fail; ``duration``:
simulated seconds after which the run ends, 0 = no limit).

Example::

    cache = ParameterCache(store)
    params = await cache.get("stf_datataking-alice-0001")
    params.tf_sample_size()          # max(1, round(tfs_per_stf * stf_sampling_rate))
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

TESTBED_PARAMETERS: dict[str, tuple[type, float, float]] = {
    "realtime_factor": (float, 1e-6, 1e6),
    "slice_failure_rate": (float, 0.0, 1.0),
    "duration": (float, 0.0, 1e9),
}
"""Parameters the testbed owns (not the workflow config): name -> (type, min, max)."""


@dataclass(frozen=True)
class ExecutionParameters:
    """The parameters agents read, with the workflow defaults when a config does not set them."""

    execution_id: str
    namespace: str
    realtime: bool = False
    realtime_factor: float = 1.0
    stf_count: int = 0
    tfs_per_stf: int = 200
    stf_sampling_rate: float = 0.05
    slices_per_sample: int = 15
    slice_processing_time: float = 30.0
    slice_max_retries: int = 3
    target_worker_count: int = 30
    max_worker_count: int = 60
    worker_count_min: int = 1
    slice_failure_rate: float = 0.0
    duration: float = 0.0
    """Simulated seconds after which the run is ended (0 = no limit)."""

    def tf_sample_size(self) -> int:
        """TFs fastmon samples from one STF: ``max(1, round(tfs_per_stf * stf_sampling_rate))``."""
        return max(1, round(self.tfs_per_stf * self.stf_sampling_rate))

    def wall_seconds(self, simulated_s: float) -> float:
        """Wall seconds a simulated duration takes: 0 in fast mode, ``x realtime_factor`` in real time."""
        return simulated_s * self.realtime_factor if self.realtime else 0.0

    @classmethod
    def from_record(cls, record: Any) -> ExecutionParameters:
        """Build from an ``ExecutionRecord`` (its ``parameters`` dict; unknown keys are ignored)."""
        known = {f.name for f in fields(cls)} - {"execution_id", "namespace", "realtime"}
        values = {k: v for k, v in dict(record.parameters or {}).items() if k in known}
        return cls(execution_id=record.execution_id, namespace=record.namespace, realtime=bool(record.realtime), **values)


class ParameterCache:
    """Per-agent cache of :class:`ExecutionParameters` by execution id."""

    def __init__(self, store: Any, *, size: int = 64) -> None:
        self.store = store
        self.size = size
        self._cache: dict[str, ExecutionParameters] = {}

    async def get(self, execution_id: str) -> ExecutionParameters:
        """The parameters of ``execution_id`` (read from the store the first time)."""
        params = self._cache.get(execution_id)
        if params is None:
            params = ExecutionParameters.from_record(await self.store.executions.get(execution_id))
            if len(self._cache) >= self.size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[execution_id] = params
        return params
