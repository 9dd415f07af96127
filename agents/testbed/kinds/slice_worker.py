"""The slice worker: fetch ONE slice, process it, send the result, then acknowledge.

Subscribes to the ``slices`` queue with client acknowledgement and prefetch 1, so a worker
holds at most one unacknowledged slice. The result goes to the ``slice_results`` queue BEFORE
the ack: a worker killed between the two leaves a slice that the broker redelivers and whose
result may then arrive twice; the fast processing agent accepts one result per
``(tf_filename, slice_id)`` and counts the rest as duplicates, so nothing is lost and nothing
counts twice.

The payload is the synthetic checksum; in real-time executions the worker also sleeps
``slice_processing_time x realtime_factor``, after sending ``slice_started`` on the results
queue so the slice shows ``processing`` while it is in flight. With ``slice_failure_rate`` > 0 (an execution
parameter, for failure injection) that fraction of payloads fails and the result says why.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from agents.testbed.framework.agent import Agent
from agents.testbed.bus.base import Delivery
from agents.testbed.pipeline_messages import SliceContent, SliceStarted, slice_result_body
from agents.testbed.execution_parameters import ParameterCache
from agents.testbed.payload import work_checksum


class InjectedFailure(RuntimeError):
    """A payload failure injected by ``slice_failure_rate``."""


class WorkerAgent(Agent):
    """Processes slices one at a time."""

    agent_type = "worker"

    async def setup(self) -> None:
        self.parameters = ParameterCache(self.store)
        self.random = random.Random(self.options.get("seed"))
        self.done = 0
        self.failed = 0
        await self.subscribe(self.to.slices, self.on_slice, ack="client", prefetch=1)

    async def on_slice(self, delivery: Delivery) -> None:
        raw = delivery.body["content"]
        content = SliceContent.model_validate(raw)
        self._hold()  # busy while the slice is in hand (what busy() does, without its context manager)
        try:
            self.execution_id = content.execution_id
            started = datetime.now(UTC)
            result: dict[str, object] | None = None
            error: str | None = None
            try:
                params = await self.parameters.get(content.execution_id)
                wait = params.wall_seconds(params.slice_processing_time)
                if wait > 0:  # the slice is in flight for a while: say so (fast runs skip the message)
                    await self.publish(self.to.slice_results, SliceStarted(
                        namespace=self.namespace, run_id=content.run_id, execution_id=content.execution_id,
                        tf_filename=content.tf_filename, slice_id=content.slice_id, attempt=content.attempt,
                        processing_start_at=started, worker=self.name), persistent=False)
                    await asyncio.sleep(wait)
                if params.slice_failure_rate > 0 and self.random.random() < params.slice_failure_rate:
                    raise InjectedFailure(f"injected payload failure (slice_failure_rate={params.slice_failure_rate})")
                result = {
                    "checksum": work_checksum(f"{content.tf_filename}:{content.slice_id}"),
                    "tf_count": content.tf_count,
                    "processed": True,
                }
                self.done += 1
            except Exception as exc:  # noqa: BLE001 - the failure is the result
                error = f"{type(exc).__name__}: {exc}"
                self.failed += 1
            await self.publish_body(self.to.slice_results, slice_result_body(
                namespace=self.namespace, content=content, processing_start_at=started,
                processed_at=datetime.now(UTC), hostname=self.hostname, worker=self.name, result=result,
                error=error, requested_at=raw["requested_at"] if isinstance(raw.get("requested_at"), str) else None))
            await delivery.ack()
        finally:
            self._release()
