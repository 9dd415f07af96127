"""The node's half of provenance: executions, runs and files linked to the call that started them.

The gateway records each tools/call with its call id and passes that id to the node (the
identity JWT's request id). When ``start_workflow`` creates an execution, the node records that
the execution ``wasInformedBy`` that call; when the execution ends it records its runs
(``hadMember``) and the STF files each run generated (``wasGeneratedBy``, ``wasAttributedTo``
the data agent). So a lineage query walks from a file to the run, the execution, the call, the
client (AI agent) and the person it acted for.

Linking after the end (from the store) rather than per message keeps the testbed's hot path
free of provenance work; the writer's hot path is a buffer append either way.

A database outage does not lose the links: while the store answers ``StoreUnavailable`` the
linker waits (backoff 0.5 s doubling to 30 s) and reads again, for as long as the execution may
run (``MAX_WAIT_S``). Everything an execution links is read first and recorded after, so a read
that fails half-way records nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prov_agent.model import SoftwareAgent
from workflows.store.errors import StoreUnavailable

if TYPE_CHECKING:
    from agents.testbed.testbed import TestbedManager
    from prov_agent.recorder import Recorder
    from workflows.store.records import ExecutionRecord
    from workflows.store.store import Store

log = logging.getLogger(__name__)

MAX_WAIT_S = 24 * 3600.0
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0


@dataclass
class ExecutionLinks:
    """What an ended execution links: its record, and the STF files of each of its runs."""

    execution: ExecutionRecord
    files_by_run: dict[int, list[str]] = field(default_factory=dict)


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
        deadline = time.monotonic() + MAX_WAIT_S
        delay = RETRY_FIRST_S
        outage_since: float | None = None
        while True:
            try:
                final = await self.manager.wait_for_execution(execution_id, max(0.0, deadline - time.monotonic()))
                links = await self.read_links(final)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:
                now = time.monotonic()
                if outage_since is None:
                    outage_since = now
                    log.warning("provenance of %s: the database is unavailable (%s); linking when it is back",
                                execution_id, exc)
                if now + delay > deadline:
                    log.error("provenance of %s not linked: the database was unavailable for %.0f s",
                              execution_id, now - outage_since)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            except Exception:
                log.exception("could not link the provenance of %s", execution_id)
                return
            if outage_since is not None:
                log.info("provenance of %s: the database answered again after %.1f s", execution_id,
                         time.monotonic() - outage_since)
            self.record(links)
            return

    async def link(self, execution: ExecutionRecord) -> None:
        """Record the runs and STF files of an ended execution, then its end."""
        self.record(await self.read_links(execution))

    async def read_links(self, execution: ExecutionRecord) -> ExecutionLinks:
        """Read the runs of ``execution`` and the STF files of each (every page)."""
        links = ExecutionLinks(execution)
        runs = await self.store.runs.list_runs(execution_id=execution.execution_id, limit=200)
        for run in runs.items:
            files = links.files_by_run.setdefault(run.run_number, [])
            cursor: str | None = None
            while True:
                page = await self.store.runs.list_stf(run_number=run.run_number, limit=200, cursor=cursor)
                files.extend(stf.filename for stf in page.items)
                if not page.has_more:
                    break
                cursor = page.next_cursor
        return links

    def record(self, links: ExecutionLinks) -> None:
        """Record what :meth:`read_links` read (buffer appends only: nothing here can half-fail)."""
        execution = links.execution
        data_agent = SoftwareAgent(name=f"data-agent-{execution.namespace}-1", agent_type="data")
        for run_number, files in links.files_by_run.items():
            self.recorder.workflow_event("run_started", execution=execution.execution_id, run=run_number)
            for filename in files:
                self.recorder.workflow_event(
                    "file_created", execution=execution.execution_id, run=run_number, file=filename,
                    agent=data_agent,
                )
        self.recorder.workflow_event(
            "execution_ended", execution=execution.execution_id, namespace=execution.namespace,
            workflow=execution.workflow_name, status=execution.status,
        )

    async def aclose(self) -> None:
        """Stop linking (executions still running are linked by nobody; their start is recorded)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
