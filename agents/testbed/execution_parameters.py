"""What an agent needs to know about an execution, loaded from the store once per execution.

Agents receive only an ``execution_id`` in their messages (as in the reference testbed) and
read the execution's effective parameters from the store. Two models, one declaration each:

- the workflow's parameters are the workflow's own pydantic model
  (:class:`workflows.params.FastProcessingParameters`, the superset of the datataking sections);
  its fields and defaults are declared there and nowhere else;
- :class:`TestbedKnobs` are the testbed's own knobs of a run, not the DAQ's
  (``realtime_factor``: wall seconds per simulated second in real time; ``slice_failure_rate``:
  fraction of slice payloads that fail; ``duration``: simulated seconds after which the run
  ends, 0 = no limit). A caller passes them among the parameters; they are stored beside the
  workflow's.

:class:`ExecutionParameters`, the agents' typed view, is both models plus the execution's id,
namespace and ``realtime``: a parameter a stored execution does not carry takes the workflow
model's default.

Example::

    cache = ParameterCache(store)
    params = await cache.get("stf_datataking-alice-0001")
    params.tf_sample_size()          # max(1, round(tfs_per_stf * stf_sampling_rate))
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from agents.testbed.errors import InvalidRequest
from workflows.params import FastProcessingParameters
from workflows.store.records import ExecutionRecord

if TYPE_CHECKING:
    from workflows.store.store import Store

__all__ = ["ExecutionParameters", "ParameterCache", "TestbedKnobs"]


class TestbedKnobs(BaseModel):
    """The testbed's own knobs of one execution (validated at start, stored with its parameters)."""

    __test__ = False
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    realtime_factor: float = Field(1.0, ge=1e-6, le=1e6,
                                   description="wall seconds per simulated second in a real-time run")
    slice_failure_rate: float = Field(0.0, ge=0.0, le=1.0, description="fraction of slice payloads that fail (failure injection)")
    duration: float = Field(0.0, ge=0.0, le=1e9, description="simulated seconds after which the run ends; 0 = no limit")

    @classmethod
    def split(cls, parameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
        """Separate a caller's parameters into the workflow's (checked by its config) and the knobs
        given (checked here: a number within the knob's bounds, else :class:`InvalidRequest` naming it)."""
        workflow: dict[str, Any] = {}
        knobs: dict[str, float] = {}
        for key, value in parameters.items():
            if key not in cls.model_fields:
                workflow[key] = value
                continue
            low, high = cls.bounds(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise InvalidRequest(f"parameters.{key}: must be a number between {low:g} and {high:g}, got {value!r}")
            knobs[key] = float(value)
        return workflow, knobs

    @classmethod
    def bounds(cls, name: str) -> tuple[float, float]:
        """The (min, max) a knob accepts, from its field."""
        metadata = cls.model_fields[name].metadata
        low = next(float(m.ge) for m in metadata if isinstance(m, Ge))
        high = next(float(m.le) for m in metadata if isinstance(m, Le))
        return low, high


class ExecutionParameters(FastProcessingParameters, TestbedKnobs):
    """The parameters agents read: the workflow's model and the testbed knobs, with their defaults
    where a stored execution does not set them (both declared in their own models, not here)."""

    execution_id: str
    namespace: str
    realtime: bool = False

    def tf_sample_size(self) -> int:
        """TFs fastmon samples from one STF: ``max(1, round(tfs_per_stf * stf_sampling_rate))``."""
        return max(1, round(self.tfs_per_stf * self.stf_sampling_rate))

    def wall_seconds(self, simulated_s: float) -> float:
        """Wall seconds a simulated duration takes: 0 in fast mode, ``x realtime_factor`` in real time."""
        return simulated_s * self.realtime_factor if self.realtime else 0.0

    @classmethod
    def from_record(cls, record: ExecutionRecord) -> ExecutionParameters:
        """Build from a stored execution (its ``parameters``; keys of no field here are ignored)."""
        known = set(cls.model_fields) - {"execution_id", "namespace", "realtime"}
        values = {k: v for k, v in dict(record.parameters or {}).items() if k in known}
        return cls(execution_id=record.execution_id, namespace=record.namespace, realtime=bool(record.realtime), **values)


class ParameterCache:
    """Cache of :class:`ExecutionParameters` by execution id, shared by every cache on the same
    store object: the agents of an in-process testbed (a pool of 30 workers, fastmon, fast
    processing) read an execution's parameters once, not once each. Concurrent misses wait on
    the one read. An execution's parameters never change once it is stored."""

    _shared: ClassVar[weakref.WeakKeyDictionary[Any, dict[str, asyncio.Future[ExecutionParameters]]]] = (
        weakref.WeakKeyDictionary())

    def __init__(self, store: Store, *, size: int = 64) -> None:
        self.store = store
        self.size = size
        try:
            self._cache = ParameterCache._shared.setdefault(store, {})
        except TypeError:  # a store that cannot be weakly referenced keeps its own cache
            self._cache = {}

    async def get(self, execution_id: str) -> ExecutionParameters:
        """The parameters of ``execution_id`` (read from the store the first time)."""
        loop = asyncio.get_running_loop()
        while True:
            cached = self._cache.get(execution_id)
            if cached is None or cached.get_loop() is not loop:
                break
            if cached.done():
                if cached.exception() is None:
                    return cached.result()
                break
            try:
                return await asyncio.shield(cached)
            except _ReadCancelled:
                continue  # the reader was cancelled: read again (or wait on whoever does)
        future: asyncio.Future[ExecutionParameters] = loop.create_future()
        if len(self._cache) >= self.size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[execution_id] = future
        try:
            params = ExecutionParameters.from_record(await self.store.executions.get(execution_id))
        except BaseException as exc:
            self._cache.pop(execution_id, None)  # not kept: the next call reads again
            future.set_exception(exc if isinstance(exc, Exception) else _ReadCancelled())
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        future.set_result(params)
        return params


class _ReadCancelled(Exception):
    """The cache's read was cancelled (its agent stopped): a caller waiting on it reads again."""
