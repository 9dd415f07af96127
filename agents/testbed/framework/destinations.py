"""Where the testbed's messages go: one fixed set of destinations per namespace.

=====================  =====  ==========================================================
name                   kind   carries
=====================  =====  ==========================================================
``daq``                topic  run messages of the workflow runner (run_imminent ... end_run)
``data``               topic  stf_ready, processing_complete, tf_file_registered
``workflow_control``   queue  run_workflow, stop_workflow, status_request (to the runner)
``slices``             queue  slice messages to the workers (persistent, TTL 12 h)
``slice_results``      queue  slice_result messages from the workers
``heartbeat``          topic  heartbeat of every agent
``testbed_control``    topic  scale_workers and agent control
``execution``          topic  execution status changes (so waiters need not poll)
=====================  =====  ==========================================================

Example::

    to = Destinations.of("ns1")
    await bus.publish(to.daq, message)      # /topic/controlroom.ns1.daq
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.testbed.bus.base import destination

SLICE_TTL_S = 12 * 3600.0
"""Slices expire after 12 hours on the queue, as the reference testbed does."""


@dataclass(frozen=True)
class Destinations:
    """The destinations of one namespace (build with :meth:`of`)."""

    namespace: str
    daq: str
    data: str
    workflow_control: str
    slices: str
    slice_results: str
    heartbeat: str
    testbed_control: str
    execution: str

    @classmethod
    def of(cls, namespace: str) -> Destinations:
        """All destinations of ``namespace``; raises ``ValueError`` naming a bad namespace."""
        return cls(
            namespace=namespace,
            daq=destination(namespace, "topic", "daq"),
            data=destination(namespace, "topic", "data"),
            workflow_control=destination(namespace, "queue", "workflow_control"),
            slices=destination(namespace, "queue", "slices"),
            slice_results=destination(namespace, "queue", "slice_results"),
            heartbeat=destination(namespace, "topic", "heartbeat"),
            testbed_control=destination(namespace, "topic", "testbed_control"),
            execution=destination(namespace, "topic", "execution"),
        )
