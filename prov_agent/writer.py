"""The buffered asynchronous writer: a cheap append on the hot path, hashing and storing off it.

``append`` puts one tuple on a deque (thread-safe, ~1 µs). A background task wakes every
``flush_interval`` seconds, takes everything buffered, assigns each record its stream's next
seq, serialises it to compact JSON (stored exactly as hashed), chains the hashes in seq order
(in a worker thread, so the event loop stays responsive) and writes the batch in ONE
transaction. Guarantees:

* clean shutdown (``close()`` / leaving ``async with``) flushes everything;
* after a SIGKILL at most what was appended since the last committed flush is lost, and what
  is stored still verifies: every flush commits whole, each stream's chain stays contiguous;
* a database error keeps the batch in memory (put back in order) and retries on the next tick;
* another writer extending the same stream (a :class:`ChainConflict`) makes the writer reload
  that stream's head and re-chain the batch after it.

>>> # async with ProvWriter(store) as writer:
>>> #     writer.append("gateway", "note", {"elements": [], "relations": []})
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

from prov_agent.chain import DECLARED, DOWN, GENESIS, UP, compact as _encode, quoted as _str, time_text
from prov_agent.errors import ChainConflict, InvalidProvInput, StoreError, WriterClosed

log = logging.getLogger(__name__)

_rng = random.Random()  # unique ids, not secrets: a PRNG seeded from urandom, reseeded in forked children
os.register_at_fork(after_in_child=_rng.seed)
_bits = _rng.getrandbits
Pending = tuple[str, str, float, dict[str, Any]]


#: One row as the store inserts it: (record_id, stream, seq, kind, time, body, prev_hash, hash).
RowTuple = tuple[str, str, int, str, str, str, str, str]
Chunk = tuple[list[RowTuple], list[tuple[str, str, int]]]
_CHUNK = 4000


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


def serialise(batch: list[Pending], heads: dict[str, tuple[int, str]]) -> Chunk:
    """Turn buffered tuples into chained rows; ``heads`` is advanced in place.

    The hot loop of a flush: one JSON encoding per body (stored exactly as hashed), one
    sha256 per record over text built around it, rows as plain tuples.
    """
    rows: list[RowTuple] = []
    mentions: list[tuple[str, str, int]] = []
    add_row, add_mentions = rows.append, mentions.extend
    quoted: dict[str, str] = {}  # stream and kind names in JSON form, computed once per batch
    last_ms, last_prefix = -1, ""
    sha256 = hashlib.sha256
    for stream, kind, epoch, body in batch:
        seq, prev = heads.get(stream, (0, GENESIS))
        seq += 1
        ms = int(epoch * 1000)
        if ms != last_ms:
            last_ms, last_prefix = ms, f"{ms:012x}"
        tail = f"{_bits(80):020x}"  # a UUIDv7-style id: time-ordered, inserts land at the index's end
        rid = f"{last_prefix[:8]}-{last_prefix[8:12]}-7{tail[:3]}-{tail[3:7]}-{tail[7:19]}"
        try:
            body_json = _encode(body)
            roles = _roles(body)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # Never drop a record: keep what can be kept, and say why.
            body_json = _encode({"elements": [], "relations": [], "unserialisable": f"{exc}: {body!r}"[:4096]})
            roles = {}
            log.warning("provenance record in stream %s seq %d was not serialisable: %s", stream, seq, exc)
        ts = time_text(epoch)
        qs = quoted.get(stream) or quoted.setdefault(stream, _str(stream))
        qk = quoted.get(kind) or quoted.setdefault(kind, _str(kind))
        # the same text as chain.record_hash builds (the keys in sorted order)
        digest = sha256(
            f'{{"body":{body_json},"kind":{qk},"prev_hash":"{prev}","record_id":"{rid}",'
            f'"seq":{seq},"stream":{qs},"time":"{ts}"}}'.encode()
        ).hexdigest()
        add_row((rid, stream, seq, kind, ts, body_json, prev, digest))
        add_mentions([(i, rid, role) for i, role in roles.items()])
        heads[stream] = (seq, digest)
    return rows, mentions


class ProvWriter:
    """Buffers records and writes them in periodic batches; use as an async context manager."""

    def __init__(self, store: RecordSink, flush_interval: float = 0.2) -> None:
        if not flush_interval > 0:
            raise InvalidProvInput("flush_interval", f"{flush_interval} is not positive", "pass seconds, e.g. 0.2")
        self.store = store
        self.flush_interval = flush_interval
        self._buffer: deque[Pending] = deque()
        self._push = self._buffer.append
        self._heads: dict[str, tuple[int, str]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._closed = False
        self.flushed = 0
        self.failures = 0

    # -- hot path -----------------------------------------------------------------------------

    def append(self, stream: str, kind: str, body: dict[str, Any]) -> None:
        """Buffer one record (no I/O, no hashing). The body must not be changed afterwards."""
        if self._closed:
            raise WriterClosed("the provenance writer is closed; open a new one to record more")
        self._push((stream, kind, time.time(), body))

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="prov-writer")

    async def __aenter__(self) -> ProvWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the background task and flush everything still buffered."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._stop.set()  # let a flush in progress finish; never cancel mid-transaction
            await self._task
            self._task = None
        await self.flush()
        if self._buffer:
            raise StoreError(f"{len(self._buffer)} provenance records could not be written at close")

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.flush_interval)
            except TimeoutError:
                pass
            if self._stop.is_set():
                return
            try:
                await self.flush()
            except StoreError as exc:
                self.failures += 1
                log.warning("provenance flush failed, will retry: %s", exc)

    # -- flush --------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write everything buffered now; return how many records were written."""
        async with self._lock:
            buffer = self._buffer
            n = len(buffer)
            if n == 0:
                return 0
            pop = buffer.popleft
            batch = [pop() for _ in range(n)]
            try:
                for attempt in range(3):
                    streams = {item[0] for item in batch}
                    unknown = [s for s in streams if s not in self._heads]
                    if unknown:
                        self._heads.update(await self.store.heads(unknown))
                    heads = {s: self._heads[s] for s in streams if s in self._heads}
                    try:
                        await self.store.append_chunks(_prepared(batch, heads))
                    except ChainConflict:
                        if attempt == 2:
                            raise
                        for s in streams:
                            self._heads.pop(s, None)
                        continue
                    self._heads.update(heads)
                    self.flushed += n
                    return n
            except BaseException:
                buffer.extendleft(reversed(batch))  # keep order; nothing is lost while we live
                raise
            return 0  # pragma: no cover


async def _prepared(batch: list[Pending], heads: dict[str, tuple[int, str]]) -> AsyncIterator[Chunk]:
    """Serialise chunk i+1 in a worker thread while the store writes chunk i."""
    starts = range(0, len(batch), _CHUNK)
    task = asyncio.ensure_future(asyncio.to_thread(serialise, batch[0:_CHUNK], heads))
    try:
        for start in starts:
            chunk = await task
            following = start + _CHUNK
            if following < len(batch):
                task = asyncio.ensure_future(asyncio.to_thread(serialise, batch[following : following + _CHUNK], heads))
            yield chunk
    finally:
        if not task.done():
            await asyncio.wait([task])
