"""The data agent: registers each STF the DAQ announces and tells the others it is ready.

Listens to the run messages on the ``daq`` topic. On ``stf_gen`` it registers the STF file
(``store.runs.add_stf``) and publishes ``stf_ready`` on the ``data`` topic once the row is
stored. The handler does not wait for the write: it goes through the agent's pipeline
(:mod:`agents.testbed.framework.pipeline`), so the next ``stf_gen`` is taken while the row
commits, STFs that arrive together share a store transaction, and ``stf_ready`` still follows
its row and keeps the order of the ``stf_gen`` messages. On ``end_run`` it waits for the
pipeline, then checks that it registered as many STFs as the run announced and logs a warning
if not.
Run rows themselves are written by the workflow runner, which is the one agent that knows a
run started and must end even when every other agent is down.
"""

from __future__ import annotations

from collections import Counter

from agents.testbed.framework.agent import Agent
from agents.testbed.bus.base import Delivery
from agents.testbed.pipeline_messages import StfReady
from workflows.run_messages import EndRun, StfGen, parse_daq_message
from workflows.store.outage import retry_unavailable


class DataAgent(Agent):
    """Registers STF files and emits ``stf_ready``."""

    agent_type = "data"

    async def setup(self) -> None:
        self.registered: Counter[int] = Counter()
        await self.subscribe(self.to.daq, self.on_daq)

    async def on_daq(self, delivery: Delivery) -> None:
        msg = parse_daq_message(delivery.body)
        if isinstance(msg, StfGen):
            async with self.busy():
                await self._register(msg)
        elif isinstance(msg, EndRun):
            await self.pipeline.drain()  # every stf_gen before end_run is registered (or failed)
            seen = self.registered.pop(msg.run_id, 0)
            if seen != msg.total_stf_files:
                self.log.warning(
                    "run %d ended with total_stf_files=%d but %d STFs were registered",
                    msg.run_id, msg.total_stf_files, seen, extra={"execution_id": msg.execution_id},
                )
            else:
                self.log.info("run %d ended: %d STFs registered", msg.run_id, seen,
                              extra={"execution_id": msg.execution_id})

    async def _register(self, msg: StfGen) -> None:
        self.execution_id = msg.execution_id

        async def ready(_row: object) -> None:
            self.registered[msg.run_id] += 1
            await self.publish(
                self.to.data,
                StfReady(
                    namespace=self.namespace,
                    execution_id=msg.execution_id,
                    run_id=msg.run_id,
                    filename=msg.filename,
                    sequence=msg.sequence,
                    checksum=msg.checksum,
                    size_bytes=msg.size_bytes,
                ),
            )

        await self.pipeline.submit(lambda: retry_unavailable(lambda: self.store.runs.add_stf(  # idempotent
            filename=msg.filename,
            namespace=self.namespace,
            execution_id=msg.execution_id,
            run_number=msg.run_id,
            sequence=msg.sequence,
            size_bytes=msg.size_bytes,
            checksum=msg.checksum,
            status="ready",
        ), what=f"register {msg.filename}", log=self.log), ready, what=f"register {msg.filename}")
