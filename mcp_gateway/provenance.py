"""The gateway's provenance observer: each `CallRecord` becomes one PROV-AGENT gateway_call record.

The hot path only queues the record's references and timing (about 2 µs); redaction, the
statements, hashing and storage happen in the writer's thread and periodic flush. When the
writer's bounded queue is full (the store is far slower than the calls), the observer waits
for room without blocking the event loop, so the call's answer is delayed rather than its
record lost; only a store that makes no room within the writer's ``block_s`` loses records,
and those are counted and noted in the stream (docs/provenance.md, "The writer").
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from prov_agent.recorder import Recorder
from workflows.store.private import private_dir

from mcp_gateway.models import CallRecord


@contextlib.asynccontextmanager
async def gateway_recorder(state_dir: Path, database_url: str | None = None,
                           stream: str = "gateway") -> AsyncIterator[Recorder]:
    """The gateway's provenance wiring, shared by `controlroom up` and `controlroom gateway serve`:
    the provenance store (SQLite ``state_dir/controlroom.db``, or ``database_url``) on the database
    port's engine, its tables brought to the newest migration, its writer (flushed and closed on
    exit) and a recorder on ``stream``, for ``build_gateway(recorder=...)``.

    Replicas sharing ``database_url`` pass their own ``stream`` (``GatewaySettings.provenance_stream``,
    ``gateway-<replica>``): each extends its own hash chain, so no two writers race for a seq.
    """
    from prov_agent.store import ProvStore
    from prov_agent.writer import ProvWriter
    from workflows.store.database import Database, default_url

    if database_url is None:
        private_dir(state_dir)
    database = await Database(database_url or default_url(state_dir)).open(upgrade=False)  # not the store's tables
    try:
        store = ProvStore(database.shared_engine())
        await store.create_schema()
        async with ProvWriter(store) as writer:
            yield Recorder(writer, stream=stream)
    finally:
        await database.close()


class ProvCallObserver:
    """A `CallObserver` that records every routed tools/call, failures included, exactly once."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def on_call(self, record: CallRecord) -> None:
        writer = self.recorder.writer
        if writer.full:
            await writer.wait_for_room()
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
