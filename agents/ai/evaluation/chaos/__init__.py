"""The chaos harness: put each failure class of the debugging agent's catalog into a live
``controlroom up`` and score what the debugger says and does about it.

It drives ``controlroom up`` from outside, as a person would: through the gateway's MCP tools,
and, where a failure lives outside them, on the machine (a TCP proxy cut in front of the broker,
SIGSTOP, a PostgreSQL database closed). It imports nothing of the node or the testbed it breaks.

    up_process                 start and stop the ``controlroom up`` child process
    live_up                    LiveUp: an MCP client on its gateway, and the waits
    broker_proxy               BrokerProxy: the broker behind a forwarder the harness can cut
    process_freeze             freeze: SIGSTOP a process that holds no SQLite write lock
    postgres_admin             scratch databases; closing one to connections
    injection                  Kind / ExtraKind, Injection: what an injector returns
    catalog_injections         one injector per catalog class; inject()
    beyond_catalog_injections  operators' acts and degraded runs
    scoring                    SuiteRow, Scored, EXPECTED, the tables
    suite                      run_suite, run_extended: live systems, inject, debug, undo
    cli                        ``controlroom chaos``

Example::

    async with LiveUp.start(tmp / "state") as live:
        injection = await inject(live, "agent_crashed", namespace="chaos-a")
        report = await live.call("debug_execution", namespace=injection.namespace)
        await injection.undo()
"""

from agents.ai.evaluation.chaos.broker_proxy import BrokerProxy, broker_answers
from agents.ai.evaluation.chaos.catalog_injections import inject
from agents.ai.evaluation.chaos.errors import ChaosError
from agents.ai.evaluation.chaos.injection import EXTRA_KINDS, KINDS, ExtraKind, Injection, Kind
from agents.ai.evaluation.chaos.live_up import LiveUp
from agents.ai.evaluation.chaos.process_freeze import freeze
from agents.ai.evaluation.chaos.scoring import EXPECTED, Scored, SuiteRow, debug_injection, render_scored, render_table, score
from agents.ai.evaluation.chaos.suite import run_extended, run_suite

__all__ = [
    "EXPECTED",
    "EXTRA_KINDS",
    "KINDS",
    "BrokerProxy",
    "ChaosError",
    "ExtraKind",
    "Injection",
    "Kind",
    "LiveUp",
    "Scored",
    "SuiteRow",
    "broker_answers",
    "debug_injection",
    "freeze",
    "inject",
    "render_scored",
    "render_table",
    "run_extended",
    "run_suite",
    "score",
]
