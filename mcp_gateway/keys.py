"""The gateway's identity signing keys: Ed25519, in ``state_dir/identity-keys.json`` (mode 0600).

Three kinds of key, all published in the JWKS nodes verify with (``GET /nodes/jwks``, and in
every registration and heartbeat answer):

* ``current`` signs every identity token;
* ``next`` is published ahead of use, so nodes already hold it when a rotation makes it current;
* ``retired`` keys stay published for the identity TTL plus a minute, so tokens signed just
  before a rotation still verify; then they are dropped.

`rotate_keys` (``controlroom gateway rotate-key``) retires the current key, promotes the next one
and stages a new next key. A running gateway notices the file changed within a second (it looks
at most once a second), so a rotation needs no restart and no node sees an unknown key.

Replicas (several gateways on one database, each with its own state directory) keep their own
private keys: none is ever written to the database. Each publishes the public halves of its
JWKS to the shared table ``gateway_public_keys`` (`SharedKeys`: at start, within a second of
a rotation, and every quarter of the window below) and reads the others' once a second,
and hands nodes the union of every replica's published keys, so a node registered through replica
A verifies identities signed by replica B (``GET /nodes/jwks`` re-reads the table first, so a node
meeting a key it does not know finds a replica that started a moment ago). A replica that stops refreshing its keys drops out of
the union after the identity TTL plus a minute (tokens it signed have expired by then).

Example::

    ring = KeyRing(state_dir / "identity-keys.json", ttl_s=120)
    token = sign_identity(ring.current(), identity, node_audience("n1"))
    ring.jwks()      # {"keys": [current, next, retired...]} -- public halves only
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio

from mcp_nodes.contract.identity import SigningKey

__all__ = ["KeyRing", "Rotation", "SharedKeys", "rotate_keys"]

log = logging.getLogger(__name__)

RETIRED_GRACE_S = 60.0
PUBLISH_EVERY_S = 1.0

_RELOAD_EVERY_S = 1.0

Status = Literal["current", "next", "retired"]


@dataclass(slots=True)
class _Entry:
    key: SigningKey
    status: Status
    retired_at: float | None = None

    def row(self) -> dict[str, Any]:
        return {"kid": self.key.kid, "status": self.status, "seed": self.key.seed(), "retired_at": self.retired_at}


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate_keys` did."""

    retired: str
    current: str
    next: str
    dropped: list[str]


def _read(path: Path) -> list[_Entry]:
    rows = json.loads(path.read_text())["keys"]
    return [_Entry(SigningKey.from_seed(row["seed"]), row["status"], row.get("retired_at")) for row in rows]


def _write(path: Path, entries: list[_Entry]) -> None:
    """Write atomically (a 0600 temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"keys": [entry.row() for entry in entries]}, handle, indent=1)
    os.replace(tmp, path)


def _load_or_create(path: Path) -> list[_Entry]:
    if path.exists():
        return _read(path)
    entries = [_Entry(SigningKey.generate(), "current"), _Entry(SigningKey.generate(), "next")]
    _write(path, entries)
    return entries


def rotate_keys(path: Path, ttl_s: float, *, drop_retired: bool = False) -> Rotation:
    """Retire the current key, promote the next one, stage a new next key; drop expired retired keys.

    ``drop_retired`` (a leaked key) unpublishes every retired key at once, the one retired now
    included: tokens it signed in the last ``ttl_s`` are refused from then on.
    """
    entries = _load_or_create(path)
    now = time.time()
    dropped = [e.key.kid for e in entries
               if e.status == "retired" and (drop_retired or (e.retired_at or 0) + ttl_s + RETIRED_GRACE_S < now)]
    entries = [e for e in entries if e.key.kid not in dropped]
    current = next(e for e in entries if e.status == "current")
    upcoming = next((e for e in entries if e.status == "next"), None) or _Entry(SigningKey.generate(), "next")
    current.status, current.retired_at = "retired", now
    upcoming.status = "current"
    staged = _Entry(SigningKey.generate(), "next")
    entries = [e for e in entries if e is not upcoming] + [upcoming, staged]
    if drop_retired:
        dropped.append(current.key.kid)
        entries = [e for e in entries if e is not current]
    _write(path, entries)
    return Rotation(retired=current.key.kid, current=upcoming.key.kid, next=staged.key.kid, dropped=dropped)


class KeyRing:
    """The keys of one gateway, reloaded from ``path`` when the file changes (looked at once a second)."""

    def __init__(self, path: Path, ttl_s: float) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self._entries = _load_or_create(path)
        self._stamp = self._stat()
        self._next_check = time.monotonic() + _RELOAD_EVERY_S

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _fresh(self) -> list[_Entry]:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + _RELOAD_EVERY_S
            stamp = self._stat()
            if stamp != self._stamp:
                self._entries = _load_or_create(self.path)
                self._stamp = self._stat()
        return self._entries

    def current(self) -> SigningKey:
        """The key that signs identity tokens now."""
        return next(e.key for e in self._fresh() if e.status == "current")

    def jwks(self) -> dict[str, Any]:
        """The public JWKS: current, next, and retired keys still within their grace."""
        now = time.time()
        keys = [e.key.public_jwk() for e in self._fresh()
                if e.status != "retired" or (e.retired_at or 0) + self.ttl_s + RETIRED_GRACE_S >= now]
        return {"keys": keys}


class KeyTable(Protocol):
    """Where replicas publish their public keys (`mcp_gateway.registry_store.RegistryStore`)."""

    async def publish_keys(self, replica: str, jwks: list[dict[str, Any]]) -> None: ...

    async def published_keys(self, refreshed_after: datetime) -> list[tuple[str, dict[str, Any]]]: ...


class SharedKeys:
    """One replica's keys plus every other replica's published public keys.

    ``jwks()`` is what nodes get: this replica's own JWKS (always, even before the first sync)
    and the keys the other replicas published and refreshed within the identity TTL plus a minute.
    `run` publishes and re-reads every ``period_s``; call `sync` once before serving.
    """

    def __init__(self, ring: KeyRing, table: KeyTable, replica: str, period_s: float = PUBLISH_EVERY_S) -> None:
        self.ring = ring
        self.table = table
        self.replica = replica
        self.period_s = period_s
        self._others: list[dict[str, Any]] = []
        self._published: list[str] = []
        self._published_at = float("-inf")
        self._read_at = float("-inf")
        self._read_lock = anyio.Lock()

    def jwks(self) -> dict[str, Any]:
        own = self.ring.jwks()["keys"]
        kids = {key["kid"] for key in own}
        return {"keys": own + [key for key in self._others if key["kid"] not in kids]}

    async def sync(self) -> None:
        """Publish this replica's public keys (when they changed, or to keep them fresh), then
        read the other replicas' ones."""
        window = self.ring.ttl_s + RETIRED_GRACE_S
        own = self.ring.jwks()["keys"]
        kids = [key["kid"] for key in own]
        if kids != self._published or time.monotonic() - self._published_at > window / 4:
            await self.table.publish_keys(self.replica, own)
            self._published, self._published_at = kids, time.monotonic()
        async with self._read_lock:
            await self._read_others()

    async def fresh_jwks(self) -> dict[str, Any]:
        """`jwks` after a read of the other replicas' keys that started after this call: what
        ``GET /nodes/jwks`` answers, so a node meeting the key of a replica that started a moment
        ago finds it at once. Concurrent callers share reads (one at a time, each covering every
        caller that was waiting), so a flood of fetches is a sequence of single SELECTs."""
        asked = time.monotonic()
        async with self._read_lock:
            if self._read_at < asked:
                try:
                    await self._read_others()
                except Exception as error:  # answer with what is known rather than fail the node's fetch
                    log.warning("could not read the other replicas' identity keys: %s", error)
        return self.jwks()

    async def _read_others(self) -> None:
        self._read_at = time.monotonic()
        fresh_after = datetime.now(UTC) - timedelta(seconds=self.ring.ttl_s + RETIRED_GRACE_S)
        self._others = [jwk for replica, jwk in await self.table.published_keys(fresh_after) if replica != self.replica]

    async def run(self) -> None:
        """Sync every ``period_s`` until cancelled (a failed sync is logged and retried)."""
        while True:
            await anyio.sleep(self.period_s)
            try:
                with anyio.move_on_after(10.0, shield=True):  # a shutdown lets the sync finish, never cuts it
                    await self.sync()
            except Exception as error:  # the database may be briefly away; keep the last union
                log.warning("could not share identity keys with the other replicas: %s", error)
