"""Parameter models of the DAQ datataking workflows, one per config section.

``[daq_state_machine]`` holds the state-machine timing shared by every datataking config;
``[stf_processing]`` and ``[fast_processing]`` extend it. The *effective* parameters of a run
are one flat model instance: the section defaults, overridden by the workflow section, by
testbed.toml and by the caller (see :mod:`workflows.config`). Times are simulated seconds.

These models are the only declaration of the workflows' parameters and defaults: the testbed's
agents read an execution through a subclass of :class:`FastProcessingParameters`
(``agents.testbed.execution_parameters.ExecutionParameters``), so a default changed here is theirs too.

Every count has a static upper bound here (the engine's sanity ceiling, far above any real run);
the node's own, lower limits (``NodeSettings.limits``: ``max_stf_count``, ``max_worker_count``)
are checked when an execution starts (:mod:`workflows.limits`).

Example::

    >>> from workflows.params import FastProcessingParameters
    >>> FastProcessingParameters(stf_count=5).stf_count
    5
    >>> sorted(parameter_json_schema("fast_processing")["properties"])[:2]
    ['beam_not_ready_delay', 'beam_not_ready_end_delay']
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SectionName = Literal["daq_state_machine", "stf_processing", "fast_processing"]


class DaqParameters(BaseModel):
    """Timing of the 8-state DAQ state machine and the STF stream (section ``[daq_state_machine]``).

    Strict types: an integer is accepted where a number is expected, nothing else is coerced.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    no_beam_not_ready_delay: float = Field(5.0, ge=0, description="seconds in no_beam/not_ready before run_imminent")
    broadcast_delay: float = Field(1.0, ge=0, description="seconds after each run-control broadcast before the next step")
    beam_not_ready_delay: float = Field(5.0, ge=0, description="seconds in beam/not_ready after run_imminent")
    beam_ready_delay: float = Field(2.0, ge=0, description="seconds in beam/ready before start_run")
    physics_period_duration: float = Field(10.0, gt=0, description="seconds of beam in one physics period")
    physics_period_count: int = Field(2, ge=0, le=1_000_000, description="physics periods per run; 0 = endless (stop it, or set stf_count or a duration)")
    stf_interval: float = Field(2.0, gt=0, description="seconds of data in one STF file; one stf_gen per interval")
    stf_generation_time: float = Field(0.1, ge=0, description="seconds from the end of an STF interval to its stf_gen broadcast; less than stf_interval")
    standby_duration: float = Field(2.0, ge=0, description="seconds in run/standby between physics periods")
    beam_not_ready_end_delay: float = Field(5.0, ge=0, description="seconds in beam/not_ready after end_run")
    stf_count: int = Field(0, ge=0, le=100_000_000, description="end the run after exactly this many STFs, repeating physics periods as needed; 0 = no count limit")
    tfs_per_stf: int = Field(200, ge=1, le=1_000_000, description="time frames (TFs) in one STF, used by downstream agents")

    @model_validator(mode="after")
    def _check_timing(self) -> DaqParameters:
        if self.stf_generation_time >= self.stf_interval:
            raise ValueError(
                f"stf_generation_time ({self.stf_generation_time}) must be less than stf_interval ({self.stf_interval})"
            )
        if self.stf_interval > self.physics_period_duration:
            raise ValueError(
                f"stf_interval ({self.stf_interval}) must not exceed physics_period_duration "
                f"({self.physics_period_duration}): a physics period would produce no STF"
            )
        return self

    def stfs_per_period(self) -> int:
        """How many STFs a full physics period produces."""
        return int(self.physics_period_duration / self.stf_interval + 1e-9)


class StfProcessingParameters(DaqParameters):
    """Standard STF processing (section ``[stf_processing]``): the DAQ parameters, nothing more yet."""


class FastProcessingParameters(DaqParameters):
    """Fast processing (section ``[fast_processing]``): DAQ parameters plus the sampling and worker pool."""

    stf_count: int = Field(10, ge=0, le=100_000_000, description="end the run after exactly this many STFs; 0 = no count limit")
    physics_period_count: int = Field(1, ge=0, le=1_000_000, description="physics periods per run; 0 = endless")
    target_worker_count: int = Field(30, ge=1, le=10_000, description="slice workers the pool aims for")
    max_worker_count: int = Field(60, ge=1, le=10_000, description="upper bound of the worker pool when it scales up")
    worker_count_min: int = Field(1, ge=0, le=10_000, description="lower bound of the worker pool when it scales down")
    stf_sampling_rate: float = Field(0.05, gt=0, le=1, description="fraction of each STF's TFs that fastmon samples")
    slices_per_sample: int = Field(15, ge=1, le=10_000, description="slices cut from each TF sample")
    slice_processing_time: float = Field(30.0, gt=0, description="seconds a worker needs for one slice")
    slice_max_retries: int = Field(3, ge=0, le=100, description="redeliveries of a failed slice before it is marked failed")
    worker_rampup_time: float = Field(300.0, ge=0, description="seconds for a new worker to become ready")
    worker_rampdown_time: float = Field(60.0, ge=0, description="seconds for a worker to drain and exit")

    @model_validator(mode="after")
    def _check_pool(self) -> FastProcessingParameters:
        if not self.worker_count_min <= self.target_worker_count <= self.max_worker_count:
            raise ValueError(
                "worker counts must satisfy worker_count_min <= target_worker_count <= max_worker_count; got "
                f"{self.worker_count_min} <= {self.target_worker_count} <= {self.max_worker_count}"
            )
        return self


SECTION_MODELS: dict[SectionName, type[DaqParameters]] = {
    "daq_state_machine": DaqParameters,
    "stf_processing": StfProcessingParameters,
    "fast_processing": FastProcessingParameters,
}
"""The parameter model of each config section; the workflow section's model is the effective one."""

WORKFLOW_SECTIONS: tuple[SectionName, ...] = ("stf_processing", "fast_processing")
"""Sections that pick the workflow flavour; a config may carry at most one of them."""


def parameter_json_schema(section: SectionName = "daq_state_machine") -> dict[str, Any]:
    """The JSON Schema of one section's parameters (shown to LLMs by the node)."""
    return SECTION_MODELS[section].model_json_schema()
