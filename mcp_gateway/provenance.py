"""The gateway's provenance observer: each `CallRecord` becomes one PROV-AGENT gateway_call record.

The recorder's hot path only appends to the writer's buffer (about 1 µs); hashing and storage
happen in the writer's periodic flush, so recording never delays the caller's answer.
"""

from __future__ import annotations

from prov_agent.recorder import Recorder

from mcp_gateway.models import CallRecord


class ProvCallObserver:
    """A `CallObserver` that records every routed tools/call, failures included, exactly once."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def on_call(self, record: CallRecord) -> None:
        self.recorder.gateway_call(
            principal=record.user,
            client_name=record.client or "unknown-client",
            client_version=record.client_version,
            tool=record.tool,
            arguments=record.arguments,
            node=record.node,
            node_reason=record.reason,
            outcome=record.outcome,
            duration_s=record.duration_ms / 1000.0,
            call_id=record.call_id,
        )
