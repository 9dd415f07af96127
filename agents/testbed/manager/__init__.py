"""The testbed manager's three jobs, one module each, over one shared :class:`~.state.ManagerState`.

``lifecycle`` starts, stops and reports a namespace's testbed (and closes what a previous node
process left running); ``executions`` starts, stops, waits on and monitors workflow executions;
``agent_control`` restarts and kills agents and sends control messages. The
:class:`~agents.testbed.testbed.TestbedManager` façade composes them and owns the bus's lifespan.
"""
