"""The gateway's provenance observer: each `CallRecord` becomes one PROV-AGENT gateway_call record.

The recorder's hot path only appends to the writer's buffer (about 1 µs); hashing and storage
happen in the writer's periodic flush, so recording never delays the caller's answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from prov_agent.recorder import Recorder

from mcp_gateway.models import CallRecord


@contextlib.asynccontextmanager
async def gateway_recorder(state_dir: Path, database_url: str | None = None,
                           stream: str = "gateway") -> AsyncIterator[Recorder]:
    """The gateway's provenance wiring, shared by `controlroom up` and `controlroom gateway serve`:
    the provenance store (SQLite ``state_dir/controlroom.db``, or ``database_url``), its writer
    (flushed and closed on exit) and a recorder on ``stream``, for ``build_gateway(recorder=...)``.
    """
    from prov_agent.store import ProvStore, engine_for
    from prov_agent.writer import ProvWriter

    engine = engine_for(database_url=database_url, state_dir=state_dir)
    try:
        store = ProvStore(engine)
        await store.create_schema()
        async with ProvWriter(store) as writer:
            yield Recorder(writer, stream=stream)
    finally:
        await engine.dispose()


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
            client_claimed=record.client_claimed,
        )
