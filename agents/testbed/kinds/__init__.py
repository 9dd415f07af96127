"""The concrete agent kinds of the ePIC-style streaming testbed, by the name in ``[agents.NAME]``.

``workflow_runner`` (drives the DAQ state machine), ``data``, ``processing``, ``fastmon``,
``fast_processing`` (cuts samples into slices and scales the pool) and ``slice_worker``.
:mod:`agents.testbed.agent_types` maps the names to these classes.
"""
