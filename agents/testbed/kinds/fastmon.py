"""The fastmon agent: samples each ready STF into one TF sample for fast monitoring.

On ``stf_ready`` it takes ``tf_count = max(1, round(tfs_per_stf * stf_sampling_rate))`` time
frames from the start of the STF (TF numbers run on through the run: STF ``n`` holds TFs
``(n-1)*tfs_per_stf`` to ``n*tfs_per_stf - 1``), registers the sample
(``store.runs.add_tf_sample``) and publishes ``tf_file_registered`` once the row is stored,
through the agent's pipeline (the next ``stf_ready`` is taken while the row commits; the
publications keep the order of the ``stf_ready`` messages).
The sample is named after its STF: ``swf.RUN.SEQ.stf`` -> ``swf.RUN.SEQ.tf``.
"""

from __future__ import annotations

from agents.testbed.framework.agent import Agent
from agents.testbed.bus.base import Delivery
from agents.testbed.pipeline_messages import TfFileRegistered
from agents.testbed.execution_parameters import ParameterCache
from workflows.store.outage import retry_unavailable


def tf_sample_name(stf_filename: str) -> str:
    """The TF sample file name of an STF: ``.stf`` becomes ``.tf``."""
    stem = stf_filename[:-4] if stf_filename.endswith(".stf") else stf_filename
    return f"{stem}.tf"


class FastmonAgent(Agent):
    """Samples STFs into TF samples and emits ``tf_file_registered``."""

    agent_type = "fastmon"

    async def setup(self) -> None:
        self.parameters = ParameterCache(self.store)
        await self.subscribe(self.to.data, self.on_data, msg_types=("stf_ready",))

    async def on_data(self, delivery: Delivery) -> None:
        body = delivery.body
        if body.get("msg_type") != "stf_ready":
            return
        async with self.busy():
            self.execution_id = body["execution_id"]
            params = await retry_unavailable(lambda: self.parameters.get(body["execution_id"]),
                                             what=f"read the parameters of {body['execution_id']}", log=self.log)
            tf_count = params.tf_sample_size()
            sequence = int(body.get("sequence") or 1)
            tf_first = (sequence - 1) * params.tfs_per_stf
            tf_last = tf_first + tf_count - 1
            tf_filename = tf_sample_name(body["filename"])
            registered = TfFileRegistered(
                namespace=self.namespace,
                execution_id=body["execution_id"],
                run_id=body["run_id"],
                tf_filename=tf_filename,
                stf_filename=body["filename"],
                tf_first=tf_first,
                tf_last=tf_last,
                tf_count=tf_count,
            )
            await self.pipeline.submit(lambda: retry_unavailable(lambda: self.store.runs.add_tf_sample(  # idempotent
                tf_filename=tf_filename,
                stf_filename=body["filename"],
                namespace=self.namespace,
                execution_id=body["execution_id"],
                run_number=body["run_id"],
                tf_first=tf_first,
                tf_last=tf_last,
                tf_count=tf_count,
            ), what=f"register {tf_filename}", log=self.log),
                lambda _row: self.publish(self.to.data, registered), what=f"register {tf_filename}")
