"""The node's half of provenance: executions, runs and files linked to the call that started them.

The gateway records each tools/call with its call id and passes that id to the node (the
identity JWT's request id). When ``start_workflow`` creates an execution, the node records that
the execution ``wasInformedBy`` that call; when the execution ends it records its runs
(``hadMember``) and the STF files each run generated (``wasGeneratedBy``, ``wasAttributedTo``
the data agent). So a lineage query walks from a file to the run, the execution, the call, the
client (AI agent) and the person it acted for.

Linking after the end (from the store) rather than per message keeps the testbed's hot path
free of provenance work; the writer's hot path is a buffer append either way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from prov_agent.model import SoftwareAgent

if TYPE_CHECKING:
    from agents.testbed.testbed import TestbedManager
    from prov_agent.recorder import Recorder
    from workflows.store.records import ExecutionRecord
    from workflows.store.store import Store

log = logging.getLogger(__name__)

MAX_WAIT_S = 24 * 3600.0


class ProvLinker:
    """Records workflow provenance for executions this node starts."""

    def __init__(self, recorder: Recorder, store: Store, manager: TestbedManager) -> None:
        self.recorder = recorder
        self.store = store
        self.manager = manager
        self._tasks: set[asyncio.Task[None]] = set()

    def execution_started(self, execution: ExecutionRecord, call_id: str | None) -> None:
        """Record the start now; link runs and files when the execution ends (in the background)."""
        self.recorder.workflow_event(
            "execution_started", execution=execution.execution_id, namespace=execution.namespace,
            workflow=execution.workflow_name, status=execution.status,
            informed_by=f"controlroom:call/{call_id}" if call_id else None,
        )
        task = asyncio.create_task(self._link_when_done(execution.execution_id), name=f"prov-{execution.execution_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _link_when_done(self, execution_id: str) -> None:
        try:
            final = await self.manager.wait_for_execution(execution_id, MAX_WAIT_S)
            await self.link(final)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not link the provenance of %s", execution_id)

    async def link(self, execution: ExecutionRecord) -> None:
        """Record the runs and STF files of an ended execution, then its end."""
        data_agent = SoftwareAgent(name=f"data-agent-{execution.namespace}-1", agent_type="data")
        runs = await self.store.runs.list_runs(execution_id=execution.execution_id, limit=200)
        for run in runs.items:
            self.recorder.workflow_event("run_started", execution=execution.execution_id, run=run.run_number)
            cursor: str | None = None
            while True:
                page = await self.store.runs.list_stf(run_number=run.run_number, limit=200, cursor=cursor)
                for stf in page.items:
                    self.recorder.workflow_event(
                        "file_created", execution=execution.execution_id, run=run.run_number, file=stf.filename,
                        agent=data_agent,
                    )
                if not page.has_more:
                    break
                cursor = page.next_cursor
        self.recorder.workflow_event(
            "execution_ended", execution=execution.execution_id, namespace=execution.namespace,
            workflow=execution.workflow_name, status=execution.status,
        )

    async def aclose(self) -> None:
        """Stop linking (executions still running are linked by nobody; their start is recorded)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
