"""The writer: a bounded queue on the hot path; building, redaction, hashing and storing off it.

``append`` (a ready body) and ``capture`` (a recorder's raw references, built later) put one
flat tuple on a deque (thread-safe, about 1 µs). A background task wakes every
``flush_interval`` seconds (at once again while records are waiting), takes up to
``max_batch`` records and, in a worker thread, builds each captured record (redaction,
digests, statements), encodes it to compact JSON (stored exactly as hashed), chains the
hashes in seq order, and writes the batch in ONE transaction. Guarantees:

* clean shutdown (``close()`` / leaving ``async with``) flushes everything;
* after a SIGKILL at most what was appended since the last committed flush is lost, and what
  is stored still verifies: every flush commits whole, each stream's chain stays contiguous;
* a database error keeps the batch in memory (put back in order, already built) and retries
  on the next tick;
* another writer extending the same stream (a :class:`ChainConflict`) makes the writer reload
  that stream's head and re-chain the batch after it;
* the queue holds at most ``capacity`` records (the flush in progress holds up to ``max_batch``
  more). When it is full, a producer waits for room as long as the writer keeps committing:
  ``await wait_for_room()`` on the event loop (the gateway does: its callers are slowed down to
  the store's pace, nothing is lost), or ``append`` blocks in any other thread. Only when no
  flush has committed for ``block_s`` (the store is down or stuck) is a record dropped; from
  then on records are dropped at once, without waiting, until a commit makes room. Dropped
  records are counted in ``dropped``, logged, and the stream gets a ``note`` record saying how
  many were dropped between which times, so the gap is in the chain itself (``verify`` still
  passes). On the event loop's own thread ``append``/``capture`` never wait (the writer needs
  that thread): await ``wait_for_room()`` before them when ``full``.

>>> # async with ProvWriter(store) as writer:
>>> #     writer.append("gateway", "note", {"elements": [], "relations": []})
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

from prov_agent.chain import DECLARED, DOWN, GENESIS, UP, compact as _encode, quoted as _str, time_text
from prov_agent.errors import ChainConflict, InvalidProvInput, StoreError, WriterClosed

log = logging.getLogger(__name__)

_rng = random.Random()  # unique ids, not secrets: a PRNG seeded from urandom, reseeded in forked children
os.register_at_fork(after_in_child=_rng.seed)
_bytes = _rng.randbytes

#: A record's body as stored (JSON text) and the ids it mentions with their role bits.
Built = tuple[str, dict[str, int]]
#: Turns captured references into a built body, in the writer's thread: (stream, epoch, fields).
Builder = Callable[[str, float, tuple[Any, ...]], Built]
#: One queued record, flat: (stream, kind, epoch, builder number, *fields); the fields are the
#: body (BODY), the built text and roles (READY), or what a registered builder takes.
#: The builder is a number, not the function, so that a queued record holds no object the garbage
#: collector must keep tracking (a tuple of strings, numbers and flat dicts is untracked), and a
#: full queue costs a full collection nothing: that collection was the event loop's longest stall.
Pending = tuple[Any, ...]
BODY, READY = 0, 1  # builder numbers: a ready body dict; a record already built (put back)
Prepared = tuple[str, str, float, str, dict[str, int]]

#: Rows and mentions as the store binds them, flat: the rows' columns one after the other
#: (record_id, stream, seq, kind, time, body, prev_hash, hash, record_id, ...) and the mentions'
#: (element_id, record_id, role, ...). A multi-row INSERT binds a slice of these lists as it is.
Chunk = tuple[list[Any], list[Any]]
_CHUNK = 2000


class RecordSink(Protocol):
    """What the writer needs from a store (``ProvStore`` is the real one)."""

    async def append_chunks(self, chunks: AsyncIterator[Chunk]) -> int: ...

    async def heads(self, streams: Iterable[str]) -> dict[str, tuple[int, str]]: ...


def _roles(body: dict[str, Any]) -> dict[str, int]:
    """Which ids a body mentions and how (DECLARED / UP / DOWN bits, see :mod:`prov_agent.chain`)."""
    roles = {e["id"]: DECLARED for e in body.get("elements", ())}
    get = roles.get
    for r in body.get("relations", ()):
        if r["rel"] == "hadMember":
            up, down = r["dst"], r["src"]
        else:
            up, down = r["src"], r["dst"]
        roles[up] = get(up, 0) | UP
        roles[down] = get(down, 0) | DOWN
    return roles


def _never(stream: str, epoch: float, fields: tuple[Any, ...]) -> Built:
    raise AssertionError("BODY and READY records are not built by a builder")  # pragma: no cover


def prepare(items: list[Pending], builders: list[Builder] | None = None) -> list[Prepared]:
    """Build and encode queued records (redaction and statements happen in the builders).

    Never drops a record: one that cannot be built or encoded is kept as a note saying why
    (for a captured record only the error's type, since its payload is not redacted yet).
    Runs in a worker thread and lets the event loop's thread have the GIL every few records.
    """
    out: list[Prepared] = []
    add = out.append
    table = builders or [_never, _never]
    for n, item in enumerate(items):
        if n % 128 == 127:
            time.sleep(0)  # releases the GIL: the event loop waits at most this long, not 5 ms
        stream, kind, epoch, build = item[0], item[1], item[2], item[3]
        try:
            if build == BODY:
                text, roles = _encode(item[4]), _roles(item[4])
            elif build == READY:
                text, roles = item[4], item[5]
            else:
                text, roles = table[build](stream, epoch, item[4:])
        except Exception as exc:
            if build == BODY:
                why = f"{exc}: {item[4]!r}"[:4096]
            else:
                why = f"the {kind} record could not be built: {type(exc).__name__}"
            text, roles = _encode({"elements": [], "relations": [], "unserialisable": why}), {}
            log.warning("provenance record in stream %s was not serialisable: %s", stream, why[:200])
        add((stream, kind, epoch, text, roles))
    return out


def chain(prepared: list[Prepared], heads: dict[str, tuple[int, str]]) -> Chunk:
    """Turn built records into chained rows; ``heads`` is advanced in place.

    One sha256 per record over text built around the stored body; rows and mentions as flat
    lists of the values the store binds (see ``Chunk``), no tuple per row left to flatten.
    """
    rows: list[Any] = []
    mentions: list[Any] = []
    add_row, add_mentions = rows.extend, mentions.extend
    quoted: dict[str, str] = {}  # stream and kind names in JSON form, computed once per batch
    last_ms, last_prefix = -1, ""
    sha256 = hashlib.sha256
    tails = _bytes(10 * len(prepared)).hex()  # the ids' random parts, drawn once per chunk
    for n, (stream, kind, epoch, body_json, roles) in enumerate(prepared):
        if n % 512 == 511:
            time.sleep(0)  # releases the GIL for the event loop's thread
        seq, prev = heads.get(stream, (0, GENESIS))
        seq += 1
        ms = int(epoch * 1000)
        if ms != last_ms:
            last_ms, last_prefix = ms, f"{ms:012x}"
            last_prefix = f"{last_prefix[:8]}-{last_prefix[8:]}-7"
        # a UUIDv7-style id: time-ordered, inserts land at the index's end
        tail = tails[20 * n : 20 * n + 19]
        rid = f"{last_prefix}{tail[:3]}-{tail[3:7]}-{tail[7:]}"
        ts = time_text(epoch)
        qs = quoted.get(stream) or quoted.setdefault(stream, _str(stream))
        qk = quoted.get(kind) or quoted.setdefault(kind, _str(kind))
        # the same text as chain.record_hash builds (the keys in sorted order)
        digest = sha256(
            f'{{"body":{body_json},"kind":{qk},"prev_hash":"{prev}","record_id":"{rid}",'
            f'"seq":{seq},"stream":{qs},"time":"{ts}"}}'.encode()
        ).hexdigest()
        add_row((rid, stream, seq, kind, ts, body_json, prev, digest))
        for i, role in roles.items():
            add_mentions((i, rid, role))
        heads[stream] = (seq, digest)
    return rows, mentions


def serialise(
    batch: list[Pending], heads: dict[str, tuple[int, str]], builders: list[Builder] | None = None
) -> Chunk:
    """Build, encode and chain queued records in one step (``heads`` is advanced in place)."""
    return chain(prepare(batch, builders), heads)


class ProvWriter:
    """A bounded queue of records written in periodic batches; use as an async context manager.

    ``capacity``: records the queue holds before producers wait (see the module docstring for
    the policy when it is full); ``block_s``: how long a waiting producer goes on waiting after
    the last commit before records are dropped (``append``/``capture`` wait in a thread other
    than the writer's event loop; on the loop they cannot, the writer needs that thread: await
    ``wait_for_room()`` first); ``max_batch``: records per transaction.
    """

    def __init__(
        self,
        store: RecordSink,
        flush_interval: float = 0.2,
        capacity: int = 50_000,
        block_s: float = 5.0,
        max_batch: int = 5_000,
    ) -> None:
        if not flush_interval > 0:
            raise InvalidProvInput("flush_interval", f"{flush_interval} is not positive", "pass seconds, e.g. 0.2")
        if capacity < 1:
            raise InvalidProvInput("capacity", f"{capacity} is below 1", "pass records, e.g. 50000")
        if not block_s >= 0:
            raise InvalidProvInput("block_s", f"{block_s} is negative", "pass seconds, e.g. 5.0")
        if max_batch < 1:
            raise InvalidProvInput("max_batch", f"{max_batch} is below 1", "pass records, e.g. 5000")
        self.store = store
        self.flush_interval = flush_interval
        self.capacity = capacity
        self.block_s = block_s
        self.max_batch = max_batch
        self._buffer: deque[Pending] = deque()
        self._builders: list[Builder] = [_never, _never]  # BODY and READY are not built by a builder
        self._push = self._buffer.append
        self._heads: dict[str, tuple[int, str]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._cond = threading.Condition()
        self._blocked = 0
        self._gaps: dict[str, list[Any]] = {}  # stream -> [dropped, first epoch, last epoch]
        self._committed_at = time.monotonic()  # the last commit (or the start): waiting for room
        self._closed = False
        self.flushed = 0
        self.failures = 0
        self.dropped = 0

    # -- hot path -----------------------------------------------------------------------------

    def append(self, stream: str, kind: str, body: dict[str, Any]) -> None:
        """Queue one record (no I/O, no hashing). The body must not be changed afterwards."""
        if self._closed:
            raise WriterClosed("the provenance writer is closed; open a new one to record more")
        if len(self._buffer) >= self.capacity and not self._make_room():
            self._drop(stream)
            return
        if self._gaps:
            self._note_gaps()
        self._push((stream, kind, time.time(), BODY, body))

    def register(self, build: Builder) -> int:
        """Number a builder for :meth:`capture` (a recorder registers its builders once)."""
        self._builders.append(build)
        return len(self._builders) - 1

    def capture(self, item: Pending) -> None:
        """Queue references to what happened, as one flat tuple ``(stream, kind, epoch, builder
        number, *fields)`` (see :meth:`register`); the builder turns them into the stored body
        later, in the writer's thread, as ``builder(stream, epoch, fields)``. Nothing in ``item``
        may be changed afterwards; strings, numbers and tuples of them keep the queue out of the
        garbage collector's way."""
        if self._closed:
            raise WriterClosed("the provenance writer is closed; open a new one to record more")
        if len(self._buffer) >= self.capacity and not self._make_room():
            self._drop(item[0])
            return
        if self._gaps:
            self._note_gaps()
        self._push(item)

    @property
    def full(self) -> bool:
        """True when the next record would have to wait for room."""
        return len(self._buffer) >= self.capacity

    async def wait_for_room(self, timeout: float | None = None) -> bool:
        """Wait (without blocking the event loop) until the queue has room; False if it has none.

        Waits as long as the writer keeps committing: gives up only when no flush has committed
        for ``timeout`` (default ``block_s``) seconds, i.e. the store is down or stuck. The
        writer is woken at once, so a full queue does not wait for its tick.
        """
        if len(self._buffer) < self.capacity:
            return True
        limit = self.block_s if timeout is None else timeout
        if self._gaps:
            return False  # already dropping (no commit made room since): shed at once, do not wait
        began = time.monotonic()
        while len(self._buffer) >= self.capacity:
            remaining = max(self._committed_at, began) + limit - time.monotonic()
            if remaining <= 0 or self._closed or self._task is None:
                break
            self._room.clear()
            self._wake.set()
            try:
                async with asyncio.timeout(remaining):
                    await self._room.wait()
            except TimeoutError:
                pass
        return len(self._buffer) < self.capacity

    def _make_room(self) -> bool:
        """Block this thread until there is room while the writer keeps committing (never on
        the writer's loop: the writer needs that thread; it gives up after ``block_s`` without
        a commit)."""
        loop = self._loop
        if loop is None or self._task is None or self._gaps or threading.get_ident() == self._loop_thread:
            return False
        began = time.monotonic()
        with self._cond:
            self._blocked += 1
            try:
                loop.call_soon_threadsafe(self._wake.set)
                while len(self._buffer) >= self.capacity:
                    remaining = max(self._committed_at, began) + self.block_s - time.monotonic()
                    if remaining <= 0 or self._closed:
                        break
                    self._cond.wait(remaining)
            finally:
                self._blocked -= 1
        return len(self._buffer) < self.capacity

    def _drop(self, stream: str) -> None:
        now = time.time()
        gap = self._gaps.get(stream)
        if gap is None:
            self._gaps[stream] = [1, now, now]
            log.warning(
                "provenance queue full (%d records): dropping records of stream %s until there is room",
                self.capacity, stream,
            )
        else:
            gap[0] += 1
            gap[2] = now
        self.dropped += 1

    def _note_gaps(self) -> None:
        """Say in each stream how many of its records were dropped, where they would have been."""
        gaps, self._gaps = self._gaps, {}
        for stream, (count, first, last) in gaps.items():
            event = (
                f"records_dropped: {count} records of this stream were not recorded between "
                f"{time_text(first)} and {time_text(last)} (the provenance queue was full)"
            )
            self._push((stream, "note", time.time(), BODY, {"elements": [], "relations": [], "event": event}))

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
            self._committed_at = time.monotonic()
            self._task = asyncio.create_task(self._run(), name="prov-writer")

    async def __aenter__(self) -> ProvWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the background task and flush everything still queued."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._stop.set()  # let a flush in progress finish; never cancel mid-transaction
            self._wake.set()
            await self._task
            self._task = None
        if self._gaps:
            self._note_gaps()
        await self.flush()
        self._release_waiters()
        if self._buffer:
            raise StoreError(f"{len(self._buffer)} provenance records could not be written at close")

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def _run(self) -> None:
        while not self._stop.is_set():
            if len(self._buffer) < self.max_batch // 4:  # behind: go on at once
                try:
                    async with asyncio.timeout(self.flush_interval):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                await self.flush()
            except StoreError as exc:
                self.failures += 1
                log.warning("provenance flush failed, will retry: %s", exc)
                try:  # a failing store is not retried in a busy loop
                    async with asyncio.timeout(self.flush_interval):
                        await self._stop.wait()
                except TimeoutError:
                    pass
            await asyncio.sleep(0)

    def _release_waiters(self) -> None:
        self._room.set()
        if self._blocked:
            with self._cond:
                self._cond.notify_all()

    # -- flush --------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write everything queued now (in transactions of up to ``max_batch``); return how many."""
        total = 0
        target = len(self._buffer)
        while total < target:
            n = await self._flush_batch(min(target - total, self.max_batch))
            if n == 0:
                break
            total += n
        return total

    async def _flush_batch(self, limit: int) -> int:
        async with self._lock:
            buffer = self._buffer
            n = min(len(buffer), limit)
            if n == 0:
                return 0
            pop = buffer.popleft
            batch = [pop() for _ in range(n)]
            self._release_waiters()
            built: dict[int, list[Prepared]] = {}  # chunk start -> built records, kept for retries
            try:
                for attempt in range(3):
                    streams = {item[0] for item in batch}
                    unknown = [s for s in streams if s not in self._heads]
                    if unknown:
                        self._heads.update(await self.store.heads(unknown))
                    heads = {s: self._heads[s] for s in streams if s in self._heads}
                    try:
                        await self.store.append_chunks(_pipelined(batch, built, heads, self._builders))
                    except ChainConflict:
                        if attempt == 2:
                            raise
                        for s in streams:
                            self._heads.pop(s, None)
                        continue
                    self._heads.update(heads)
                    self.flushed += n
                    self._committed_at = time.monotonic()
                    self._release_waiters()
                    return n
            except BaseException:
                # keep order, and keep what was built (a captured record is built exactly once)
                kept = [
                    (s, k, e, READY, text, roles)
                    for start in sorted(built)
                    for s, k, e, text, roles in built[start]
                ]
                done = len(kept)
                buffer.extendleft(reversed(kept + batch[done:]))
                raise
            return 0  # pragma: no cover


def _build_chunk(
    batch: list[Pending],
    start: int,
    built: dict[int, list[Prepared]],
    heads: dict[str, tuple[int, str]],
    builders: list[Builder],
) -> Chunk:
    prepared = built.get(start)
    if prepared is None:
        prepared = built[start] = prepare(batch[start : start + _CHUNK], builders)
    return chain(prepared, heads)


async def _pipelined(
    batch: list[Pending],
    built: dict[int, list[Prepared]],
    heads: dict[str, tuple[int, str]],
    builders: list[Builder],
) -> AsyncIterator[Chunk]:
    """Build and chain chunk i+1 in a worker thread while the store writes chunk i."""
    starts = range(0, len(batch), _CHUNK)
    task = asyncio.ensure_future(asyncio.to_thread(_build_chunk, batch, 0, built, heads, builders))
    try:
        for start in starts:
            chunk = await task
            following = start + _CHUNK
            if following < len(batch):
                task = asyncio.ensure_future(
                    asyncio.to_thread(_build_chunk, batch, following, built, heads, builders)
                )
            yield chunk
    finally:
        if not task.done():
            await asyncio.wait([task])
