"""The processing agent: processes each ready STF and reports it done.

On ``stf_ready`` (``data`` topic) it does the synthetic checksum work, marks the STF
``processed`` in the store and publishes ``processing_complete`` once that is stored, through
the agent's pipeline (the next ``stf_ready`` is taken while the status commits; the
publications keep the order of the ``stf_ready`` messages). A failure marks the STF ``failed``
and says why in the message and the log.
"""

from __future__ import annotations

import asyncio

from agents.testbed.framework.agent import Agent
from agents.testbed.bus.base import Delivery
from agents.testbed.pipeline_messages import ProcessingComplete
from agents.testbed.payload import work_checksum
from workflows.store.outage import retry_unavailable


class ProcessingAgent(Agent):
    """Processes STFs (synthetic checksum work) and emits ``processing_complete``."""

    agent_type = "processing"

    async def setup(self) -> None:
        await self.subscribe(self.to.data, self.on_data, msg_types=("stf_ready",))

    async def on_data(self, delivery: Delivery) -> None:
        if delivery.body.get("msg_type") != "stf_ready":
            return
        body = delivery.body
        async with self.busy():
            self.execution_id = body["execution_id"]
            error: str | None = None
            try:
                checksum = work_checksum(body["filename"])
                status = "processed"
            except Exception as exc:  # noqa: BLE001 - reported, the agent goes on
                checksum, status, error = "", "failed", f"{type(exc).__name__}: {exc}"
                self.log.error("processing %s failed: %s", body["filename"], error,
                               extra={"execution_id": body["execution_id"]})
            complete = ProcessingComplete(
                namespace=self.namespace,
                execution_id=body["execution_id"],
                run_id=body["run_id"],
                filename=body["filename"],
                checksum=checksum,
                status=status,
                error=error,
            )
            await self.pipeline.submit(
                lambda: retry_unavailable(lambda: self.store.runs.set_stf_status(body["filename"], status),
                                          what=f"mark {body['filename']} {status}", log=self.log),
                lambda _row: self.publish(self.to.data, complete), what=f"mark {body['filename']} {status}")
            await asyncio.sleep(0)
