"""What the harness injects and what an injector returns.

``Kind`` is a failure class of the debugger's catalog; ``ExtraKind`` a case beyond it (an
operator's deliberate act, or a degraded-but-running execution). An injector returns an
:class:`Injection`: where to point the debugger and how to undo the damage."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from agents.ai.evaluation.chaos.errors import ChaosError

if TYPE_CHECKING:
    from agents.ai.evaluation.chaos.live_up import LiveUp

Kind = Literal[
    "agent_crashed",
    "broker_unreachable",
    "invalid_parameter",
    "missing_config",
    "testbed_already_running",
    "stuck_execution",
    "slice_backlog",
    "worker_payload_errors",
    "disk_full",
    "database_unavailable",
]
KINDS: tuple[Kind, ...] = get_args(Kind)

ExtraKind = Literal[
    "operator_stop_workflow",
    "operator_stop_testbed",
    "operator_kill_agents",
    "operator_scale_down",
    "parameter_change",
    "slow_workers",
    "one_slice_in_ten_fails",
    "broker_drop_once",
]
EXTRA_KINDS: tuple[ExtraKind, ...] = get_args(ExtraKind)

Case = Kind | ExtraKind
How = Literal["real", "simulated"]


@dataclass
class Injection:
    """One injected failure: where to point the debugger, how it was made, how to undo it."""

    kind: Case
    namespace: str
    execution_id: str | None = None
    how: How = "real"
    detail: str = ""
    undo_steps: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def undo(self) -> None:
        """Undo the machine-level damage (resume a frozen process, reopen a database)."""
        for step in reversed(self.undo_steps):
            with contextlib.suppress(Exception):
                await step()
        self.undo_steps.clear()


Injector = Callable[..., Awaitable[Injection]]
"""``injector(live, namespace, **options)``: break ``namespace`` on ``live``, say how."""


async def testbed_to_break(live: LiveUp, namespace: str) -> dict[str, Any]:
    """Start the testbed of ``namespace`` through the gateway; its status (agents, pids)."""
    status = await live.call("start_testbed", namespace=namespace, reason="chaos: a testbed to break")
    if not status.get("ready"):
        raise ChaosError(f"the testbed of {namespace} did not become ready: {status.get('message')}")
    return status
