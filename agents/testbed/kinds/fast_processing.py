"""The fast processing agent: cuts TF samples into slices, farms them out, collects results.

* ``run_imminent`` (``daq``): reads the execution's parameters and asks the supervisor for
  ``target_worker_count`` workers (``scale_workers`` on ``testbed_control``).
* ``tf_file_registered`` (``data``): cuts the sample into ``slices_per_sample`` contiguous TF
  ranges (sizes differ by at most one; a sample smaller than the slice count gives some empty
  slices), stores them (``queued``) and, once they are stored, publishes each to the ``slices``
  queue (persistent, TTL 12 h). The store write goes through the agent's pipeline: the next
  sample is taken while it commits, and samples are dispatched in the order they arrived.
* ``slice_result`` (``slice_results`` queue, client ack): accepts ONE result per
  ``(tf_filename, slice_id)`` and attempt. A failed result is retried (the slice is published
  again, ``retries`` + 1) up to ``slice_max_retries`` times, then the slice is marked ``failed``
  with the worker's reason. A second result for a resolved slice (a redelivery after a worker
  died between sending and acknowledging) is counted as a duplicate and ignored. Results are
  written to the store in batches and acknowledged only after the batch is written.
* Run statistics go to ``run_states`` (slice counts, workers, latency p50/p99 over the last
  10,000 results); the scaling rule (:mod:`agents.testbed.scaling`) is applied to the median
  latency in simulated seconds of real-time runs.
* When the run has ended and every slice of every sample is resolved, it publishes a
  ``drained`` execution event and returns the pool to ``worker_count_min``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agents.testbed.framework.agent import Agent
from agents.testbed.bus.base import Delivery
from agents.testbed.framework.destinations import SLICE_TTL_S
from agents.testbed.kinds.run_recorder import STATE_MESSAGES
from agents.testbed.pipeline_messages import (
    ExecutionStatusChanged, Heartbeat, ScaleWorkers, SliceResult, SliceStarted, json_time, slice_content_body,
    slice_message_body,
)
from agents.testbed.execution_parameters import ExecutionParameters, ParameterCache
from agents.testbed.scaling import next_worker_count, percentile
from workflows.run_messages import EndRun, RunImminent, parse_daq_message
from workflows.store.outage import outage_bound_s, retry_unavailable
from workflows.store.records import SliceMark

SliceKey = tuple[str, int]
RECEIVED_COUNTER = "slice_results_received"
"""Store counter ``slice_results_received:EXECUTION``: every slice_result received (a slice
processed twice counts twice), against the slices done + failed."""
LATENCY_WINDOW = 10_000
SCALE_SAMPLE = 20
FLUSH_INTERVAL_S = 0.1
FLUSH_BATCH = 200
"""Results that make the flush loop write at once instead of at the next 0.1 s tick."""
FLUSH_BACKOFF_MAX_S = 2.0


def slice_ranges(tf_first: int, tf_count: int, parts: int) -> list[tuple[int, int, int]]:
    """``parts`` contiguous ranges ``(start, end, count)`` (end inclusive) covering the sample.

    >>> slice_ranges(0, 10, 3)
    [(0, 3, 4), (4, 6, 3), (7, 9, 3)]
    """
    base, extra = divmod(tf_count, parts)
    ranges: list[tuple[int, int, int]] = []
    start = tf_first
    for index in range(parts):
        count = base + (1 if index < extra else 0)
        ranges.append((start, start + count - 1, count))
        start += count
    return ranges


def request_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text (``str(uuid.uuid4())``'s form), from one
    ``os.urandom`` call and without a ``UUID`` object each."""
    digits = os.urandom(16 * count).hex()
    ids = []
    for i in range(0, 32 * count, 32):
        h = digits[i:i + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return ids


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}
"""The first digit of a UUID's fourth group with the RFC 4122 variant bits (10xx) set."""


@dataclass(slots=True)
class PendingSlice:
    """A dispatched slice waiting for its result: the ``content`` body sent (``SliceContent`` in
    its JSON form), its attempt and when it was requested."""

    content: dict[str, Any]
    attempt: int
    requested_at: datetime


@dataclass
class RunBook:
    """What the agent tracks for one execution's run."""

    params: ExecutionParameters
    run_number: int
    phase: str = "beam/not_ready"
    expected_samples: int | None = None
    samples: int = 0
    pending: dict[SliceKey, PendingSlice] = field(default_factory=dict)
    done: int = 0
    failed: int = 0
    retried: int = 0
    duplicates: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    since_scale: int = 0
    workers_target: int = 0
    drained: bool = False
    dirty: bool = True

    def resolved(self) -> int:
        return self.done + self.failed


class FastProcessingAgent(Agent):
    """Slices TF samples, dispatches them to workers, collects and books their results."""

    agent_type = "fast_processing"

    async def setup(self) -> None:
        self.parameters = ParameterCache(self.store)
        self.books: dict[str, RunBook] = {}
        self.workers: dict[str, str] = {}
        self._batch: list[tuple[SliceResult | SliceStarted, Delivery, str]] = []
        self._batch_lock = asyncio.Lock()
        self._flush_now = asyncio.Event()
        self._received: dict[str, int] = {}  # slice_result messages per execution since the last flush
        self._outage_s = float(self.options.get("store_outage_s", outage_bound_s()))
        await self.subscribe(self.to.daq, self.on_daq, msg_types=STATE_MESSAGES)  # not stf_gen: one per STF
        await self.subscribe(self.to.data, self.on_data, msg_types=("tf_file_registered",))
        await self.subscribe(self.to.heartbeat, self.on_heartbeat)
        await self.subscribe(self.to.slice_results, self.on_result, ack="client", prefetch=1000)
        self.spawn(self._flush_loop(), f"fastproc-flush-{self.name}")

    # --- run control -------------------------------------------------------------------------

    async def on_daq(self, delivery: Delivery) -> None:
        msg = parse_daq_message(delivery.body)
        book = await self._book(msg.execution_id, msg.run_id)
        book.phase = f"{msg.state}/{msg.substate}"
        book.dirty = True
        if isinstance(msg, RunImminent):
            book.workers_target = book.params.target_worker_count
            await self._scale(book, book.workers_target, "run_imminent: ramp up to target_worker_count")
        elif isinstance(msg, EndRun):
            book.expected_samples = msg.total_stf_files
            await self._check_drained(msg.execution_id, book)

    async def on_heartbeat(self, delivery: Delivery) -> None:
        beat = Heartbeat.model_validate(delivery.body)
        if beat.agent_type != "worker":
            return
        if beat.status == "EXITED":
            self.workers.pop(beat.agent, None)
        else:
            self.workers[beat.agent] = beat.status

    # --- slicing -----------------------------------------------------------------------------

    async def on_data(self, delivery: Delivery) -> None:
        body = delivery.body
        if body.get("msg_type") != "tf_file_registered":
            return
        async with self.busy():
            execution_id = body["execution_id"]
            self.execution_id = execution_id
            book = await self._book(execution_id, body["run_id"])
            now = datetime.now(UTC)
            now_json = json_time(now)
            ranges = slice_ranges(body["tf_first"], body["tf_count"], book.params.slices_per_sample)
            tf_filename = body["tf_filename"]
            run_id = body["run_id"]
            contents = [
                slice_content_body(run_id=run_id, execution_id=execution_id, req_id=req_id,
                                   filename=body["stf_filename"], tf_filename=tf_filename, slice_id=index,
                                   start=start, end=end, tf_count=count, requested_at=now_json)
                for index, ((start, end, count), req_id) in enumerate(zip(ranges, request_ids(len(ranges)),
                                                                          strict=True))
            ]

            async def dispatch(_new: int) -> None:
                book.samples += 1
                book.dirty = True
                sent_at = json_time(datetime.now(UTC))  # the messages' timestamp, one for the sample
                for content in contents:
                    book.pending[(tf_filename, content["slice_id"])] = PendingSlice(content, 0, now)
                    await self._dispatch(content, sent_at)

            what = f"store the slices of {tf_filename}"
            await self.pipeline.submit(
                lambda: retry_unavailable(lambda: self.store.runs.add_sample_slices(
                    namespace=self.namespace, execution_id=execution_id, run_number=run_id, tf_filename=tf_filename,
                    ranges=ranges, requested_at=now), what=what, bound_s=self._outage_s, log=self.log),
                dispatch, what=what)

    async def _dispatch(self, content: dict[str, Any], sent_at: str | None = None) -> None:
        await self.publish_body(self.to.slices,
                                slice_message_body(self.namespace, content, sent_at or json_time(datetime.now(UTC))),
                                ttl_s=SLICE_TTL_S)

    # --- results -----------------------------------------------------------------------------

    async def on_result(self, delivery: Delivery) -> None:
        if delivery.body.get("msg_type") == "slice_started":
            await self._on_started(SliceStarted.model_validate(delivery.body), delivery)
            return
        result = SliceResult.model_validate(delivery.body)
        self._received[result.execution_id] = self._received.get(result.execution_id, 0) + 1
        book = self.books.get(result.execution_id)
        key = (result.tf_filename, result.slice_id)
        pending = book.pending.get(key) if book is not None else None
        if book is None or pending is None or pending.attempt != result.attempt:
            if book is not None:
                book.duplicates += 1
            self.log.info("ignored a duplicate result for slice %s/%d (attempt %d)", *key, result.attempt,
                          extra={"execution_id": result.execution_id})
            await delivery.ack()
            return
        if result.state == "failed" and pending.attempt < book.params.slice_max_retries:
            requested_at = datetime.now(UTC)
            retry = PendingSlice({**pending.content, "attempt": pending.attempt + 1, "req_id": str(uuid.uuid4()),
                                  "requested_at": json_time(requested_at)}, pending.attempt + 1, requested_at)
            book.pending[key] = retry
            book.retried += 1
            self.log.warning("slice %s/%d failed on %s (%s); retry %d of %d", *key, result.worker, result.error,
                             retry.attempt, book.params.slice_max_retries,
                             extra={"execution_id": result.execution_id})
            self._batch.append((result, delivery, "retry"))
            await self._dispatch(retry.content)
        else:
            del book.pending[key]
            if result.state == "done":
                book.done += 1
                latency = (result.processed_at - pending.requested_at).total_seconds() * 1000.0
                book.latencies_ms.append(latency)
                book.since_scale += 1
            else:
                book.failed += 1
                self.log.error("slice %s/%d failed after %d retries: %s", *key, pending.attempt, result.error,
                               extra={"execution_id": result.execution_id})
            self._batch.append((result, delivery, result.state))
        book.dirty = True
        if len(self._batch) >= FLUSH_BATCH:
            self._flush_now.set()  # the flush loop writes it; this handler takes the next result meanwhile

    async def _on_started(self, started: SliceStarted, delivery: Delivery) -> None:
        """A worker took a pending slice: book it ``processing`` (with the next flush)."""
        book = self.books.get(started.execution_id)
        pending = book.pending.get((started.tf_filename, started.slice_id)) if book is not None else None
        if book is None or pending is None or pending.attempt != started.attempt:
            await delivery.ack()  # a stale notice (the slice was resolved or retried since)
            return
        self._batch.append((started, delivery, "processing"))

    async def _flush_loop(self) -> None:
        """Flush every 0.1 s, or at once when FLUSH_BATCH results wait (the result handler only
        wakes this task, so it keeps taking results while a flush commits); never dies on a store
        error. While the database is away the results stay buffered and unacknowledged (backoff
        up to 2 s); past ``store_outage_s`` the agent logs an ERROR and shows it in its
        ``detail``, and keeps trying."""
        delay = FLUSH_INTERVAL_S
        failing_since: float | None = None
        escalated = False
        while True:
            if failing_since is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._flush_now.wait()
            else:
                await asyncio.sleep(delay)  # backing off: a full batch does not hurry the next try
            self._flush_now.clear()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a flush that failed keeps its batch; try again
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    self.log.warning("flush failed (%s: %s); %d results kept, retrying", type(exc).__name__, exc,
                                     len(self._batch))
                elif not escalated and now - failing_since > self._outage_s:
                    escalated = True
                    self.detail = (f"flush failing for {now - failing_since:.0f} s ({type(exc).__name__}); "
                                   f"{len(self._batch)} results buffered")
                    self.log.error("flush failing for %.0f s (%s: %s); %d results buffered, unacknowledged; still "
                                   "retrying", now - failing_since, type(exc).__name__, exc, len(self._batch))
                delay = min(delay * 2, FLUSH_BACKOFF_MAX_S)
                continue
            if failing_since is not None:
                self.log.info("flush succeeded again after %.1f s", time.monotonic() - failing_since)
                if escalated:
                    self.detail = None
                failing_since, escalated, delay = None, False, FLUSH_INTERVAL_S

    async def _flush(self) -> None:
        async with self._batch_lock:
            batch, self._batch = self._batch, []
            marks: list[SliceMark] = []
            for result, _delivery, outcome in batch:
                if outcome == "processing":
                    marks.append(SliceMark(tf_filename=result.tf_filename, slice_id=result.slice_id,
                                           status="processing", worker=result.worker, at=result.processing_start_at))
                elif outcome == "retry":
                    # through "processing" so the store counts the retry even if the slice was queued
                    marks.append(SliceMark(tf_filename=result.tf_filename, slice_id=result.slice_id,
                                           status="processing", worker=result.worker,
                                           at=result.processing_start_at))
                    marks.append(SliceMark(tf_filename=result.tf_filename, slice_id=result.slice_id,
                                           status="queued", error=result.error))
                else:
                    marks.append(SliceMark(tf_filename=result.tf_filename, slice_id=result.slice_id,
                                           status=outcome, worker=result.worker, error=result.error,
                                           result=result.result, at=result.processed_at,
                                           processing_start_at=result.processing_start_at))
            received, self._received = self._received, {}
            try:
                # with every result received, duplicates included (store: slice_results_received:EXECUTION)
                await self.store.runs.mark_slices(marks, {f"{RECEIVED_COUNTER}:{e}": n for e, n in received.items()})
            except BaseException:
                self._batch[:0] = batch  # not acknowledged: written again by the next flush
                for execution_id, count in received.items():
                    self._received[execution_id] = self._received.get(execution_id, 0) + count
                raise
            for _result, delivery, _outcome in batch:
                await delivery.ack()
            for execution_id, book in list(self.books.items()):
                if book.dirty:
                    book.dirty = False
                    try:
                        await self._write_state(book)
                    except BaseException:
                        book.dirty = True  # written with the next flush
                        raise
                    await self._apply_scaling(book)
                    await self._check_drained(execution_id, book)

    # --- statistics, scaling, drain ----------------------------------------------------------

    async def _write_state(self, book: RunBook) -> None:
        ordered = sorted(book.latencies_ms)
        await self.store.runs.upsert_run_state(
            book.run_number,
            namespace=self.namespace,
            phase=book.phase,
            workers_active=sum(1 for s in self.workers.values() if s in ("READY", "PROCESSING")),
            workers_target=book.workers_target,
            slices_queued=len(book.pending),
            slices_processing=sum(1 for s in self.workers.values() if s == "PROCESSING"),
            slices_done=book.done,
            slices_failed=book.failed,
            latency_p50_ms=percentile(ordered, 0.50),
            latency_p99_ms=percentile(ordered, 0.99),
        )

    async def _apply_scaling(self, book: RunBook) -> None:
        if not book.params.realtime or book.since_scale < SCALE_SAMPLE or book.drained:
            return
        recent = sorted(list(book.latencies_ms)[-book.since_scale:])
        book.since_scale = 0
        measured_s = (percentile(recent, 0.5) or 0.0) / 1000.0 / book.params.realtime_factor
        wanted = next_worker_count(
            book.workers_target,
            measured_s=measured_s,
            target_s=book.params.slice_processing_time,
            minimum=book.params.worker_count_min,
            maximum=book.params.max_worker_count,
        )
        if wanted != book.workers_target:
            book.workers_target = wanted
            await self._scale(book, wanted, f"median slice time {measured_s:.1f}s vs target "
                                            f"{book.params.slice_processing_time:.1f}s")

    async def _check_drained(self, execution_id: str, book: RunBook) -> None:
        if book.drained or book.expected_samples is None:
            return
        if book.samples < book.expected_samples or book.pending or self._batch:
            return
        book.drained = True
        await self._write_state(book)
        self.log.info("execution %s drained: %d slices done, %d failed, %d retried, %d duplicate results",
                      execution_id, book.done, book.failed, book.retried, book.duplicates,
                      extra={"execution_id": execution_id})
        await self.publish(
            self.to.execution,
            ExecutionStatusChanged(namespace=self.namespace, execution_id=execution_id, event="drained",
                                   status="drained", run_number=book.run_number, stf_count=book.samples),
            persistent=False,
        )
        await self._scale(book, book.params.worker_count_min, "run drained: back to worker_count_min")
        self.books.pop(execution_id, None)

    async def _scale(self, book: RunBook, count: int, reason: str) -> None:
        self.log.info("scale workers to %d: %s", count, reason, extra={"execution_id": book.params.execution_id})
        await self.publish(
            self.to.testbed_control,
            ScaleWorkers(namespace=self.namespace, count=count, reason=reason, execution_id=book.params.execution_id),
            persistent=False,
        )

    async def _book(self, execution_id: str, run_number: int) -> RunBook:
        book = self.books.get(execution_id)
        if book is None:
            params = await retry_unavailable(lambda: self.parameters.get(execution_id), bound_s=self._outage_s,
                                             what=f"read the parameters of {execution_id}", log=self.log)
            book = RunBook(params=params, run_number=run_number, workers_target=params.target_worker_count)
            self.books[execution_id] = book
        return book

    async def teardown(self) -> None:
        with contextlib.suppress(Exception):
            await self._flush()
