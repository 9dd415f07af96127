"""SQL persistence of the node registry and the token table (the only gateway module on SQLAlchemy).

Tables on their own MetaData, so they can share a database with other packages:
``gateway_nodes`` (one row per node, including the last known tool schemas),
``gateway_tokens`` (sha256 of each bearer token -> principal JSON, which also holds the token's
``expires_at``; a token's id is the first 12 hex digits of its sha256, so existing databases
need no schema change) and ``gateway_public_keys`` (the public identity keys each replica
publishes, `mcp_gateway.keys`). Their schema is the Alembic history in ``mcp_gateway/migrations``
(`upgrade`; version table ``gateway_alembic_version``), never ``create_all``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Index, MetaData, String, Table, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mcp_gateway.errors import RegistryError
from mcp_gateway.models import NodeHealth, Principal
from mcp_nodes.contract.registration import NodeInfo

metadata = MetaData()

nodes_table = Table(
    "gateway_nodes",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("info", JSON, nullable=False),
    Column("health", String(8), nullable=False),
    Column("load", Float, nullable=False, default=0.0),
    Column("last_heartbeat", DateTime(timezone=True), nullable=True),
    Column("down_since", DateTime(timezone=True), nullable=True),
    Column("info_sha256", String(64), nullable=True),  # info_digest(info); None in rows from before gateway_0003
)

tokens_table = Table(
    "gateway_tokens",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("principal", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

public_keys_table = Table(
    "gateway_public_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("replica", String(64), nullable=False),
    Column("jwk", JSON, nullable=False),
    Column("refreshed_at", DateTime(timezone=True), nullable=False),
    Index("gateway_public_keys_replica", "replica"),
)


EXPIRES_KEY = "expires_at"
"""Key of a token's expiry inside the stored principal JSON (absent: never expires)."""
TOKEN_ID_LENGTH = 12
"""A token's id is the first 12 hex digits of its sha256 (what `controlroom token list` shows)."""


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A token row's principal and expiry."""

    principal: Principal
    expires_at: datetime | None = None

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> StoredToken:
        expires = stored.get(EXPIRES_KEY)
        return cls(Principal.model_validate(stored), _aware(datetime.fromisoformat(expires)) if expires else None)

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at


class TokenInfo(BaseModel):
    """One line of `controlroom token list`: everything about a token except the token."""

    id: str
    user: str
    namespaces: list[str]
    scopes: list[str]
    created_at: datetime | None
    expires_at: datetime | None
    revoked: bool


def open_engine(url: str) -> AsyncEngine:
    """A bare AsyncEngine for ``url`` (scripts and benchmarks; the gateway opens the database
    port, `workflows.store.database.Database`, and hands its ``shared_engine()`` to the store)."""
    return create_async_engine(url)


class StoredNode:
    """A node row as the registry reloads it."""

    __slots__ = ("down_since", "health", "info", "info_sha256", "last_heartbeat", "load")

    def __init__(self, info: NodeInfo, health: NodeHealth, load: float,
                 last_heartbeat: datetime | None, down_since: datetime | None, info_sha256: str | None = None) -> None:
        self.info = info
        self.health = health
        self.load = load
        self.last_heartbeat = last_heartbeat
        self.down_since = down_since
        self.info_sha256 = info_sha256


@dataclass(frozen=True, slots=True)
class NodeHead:
    """A node row without its info: what a replica re-reads every heartbeat period."""

    name: str
    info_sha256: str | None
    health: NodeHealth
    load: float
    last_heartbeat: datetime | None
    down_since: datetime | None


def info_digest(info: dict[str, Any]) -> str:
    """sha256 of a node info's JSON (sorted keys): changes exactly when the stored info does."""
    return hashlib.sha256(json.dumps(info, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class RegistryStore:
    """Node and token rows on an AsyncEngine; SQLAlchemy errors become `RegistryError`."""

    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RegistryError("the registry store has no database yet: the gateway's lifespan opens it")
        return self._engine

    def bind(self, engine: AsyncEngine) -> None:
        """Use ``engine`` from now on (the gateway binds the database it opened in its lifespan)."""
        self._engine = engine

    async def upgrade(self) -> None:
        """Bring the gateway's tables to the newest migration (stamping a ``create_all`` database)."""
        from alembic.util import CommandError

        from mcp_gateway.migrate import upgrade_schema
        from workflows.store.migrate import alembic_turn

        try:
            async with alembic_turn(), self.engine.begin() as conn:
                await conn.run_sync(upgrade_schema)
        except (SQLAlchemyError, CommandError) as error:
            raise RegistryError(f"cannot create or upgrade the gateway tables: {error}") from error

    create_tables = upgrade  # the name callers used before migrations

    async def schema_revision(self) -> str | None:
        """The gateway schema's Alembic revision in this database (None: never migrated)."""
        from mcp_gateway.migrate import current_revision

        try:
            async with self.engine.connect() as conn:
                return await conn.run_sync(current_revision)
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot read the gateway schema revision: {error}") from error

    async def save_node(self, info: NodeInfo, health: NodeHealth, load: float,
                        last_heartbeat: datetime | None, down_since: datetime | None) -> None:
        dumped = info.model_dump(mode="json")
        row: dict[str, Any] = {"info": dumped, "info_sha256": info_digest(dumped), "health": health, "load": load,
                               "last_heartbeat": last_heartbeat, "down_since": down_since}
        try:
            async with self.engine.begin() as conn:
                await conn.execute(delete(nodes_table).where(nodes_table.c.name == info.name))
                await conn.execute(nodes_table.insert().values(name=info.name, **row))
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot save node {info.name!r}: {error}") from error

    async def update_node(self, name: str, only_if_health: NodeHealth | None = None, **values: Any) -> bool:
        """Update the node's row (only while its health is ``only_if_health``, if given); False when
        no row was updated (another replica changed its health first)."""
        if "info" in values:
            values["info_sha256"] = info_digest(values["info"])
        query = nodes_table.update().where(nodes_table.c.name == name)
        if only_if_health is not None:
            query = query.where(nodes_table.c.health == only_if_health)
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(query.values(**values))
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot update node {name!r}: {error}") from error
        return bool(result.rowcount)

    async def load_nodes(self, names: Collection[str] | None = None) -> list[StoredNode]:
        """Every node row, or those named in ``names``."""
        query = select(nodes_table)
        if names is not None:
            query = query.where(nodes_table.c.name.in_(list(names)))
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot load the node registry: {error}") from error
        return [StoredNode(NodeInfo.model_validate(row["info"]), row["health"], row["load"],
                           _aware(row["last_heartbeat"]), _aware(row["down_since"]), row["info_sha256"])
                for row in rows]

    async def load_node_heads(self) -> list[NodeHead]:
        """Every node row without its info (health, load, lease times and the info's digest)."""
        t = nodes_table.c
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select(t.name, t.info_sha256, t.health, t.load, t.last_heartbeat,
                                                  t.down_since))).all()
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot load the node registry: {error}") from error
        return [NodeHead(name, digest, health, load, _aware(beat), _aware(down))
                for name, digest, health, load, beat, down in rows]

    async def add_token(self, token_sha256: str, principal: Principal, expires_at: datetime | None = None) -> None:
        """Store a token's digest; ``expires_at`` rides in the principal JSON (no schema change)."""
        stored = principal.model_dump(mode="json")
        if expires_at is not None:
            stored[EXPIRES_KEY] = expires_at.astimezone(UTC).isoformat()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(tokens_table.insert().values(
                    token_sha256=token_sha256, principal=stored, created_at=datetime.now(UTC), revoked=False))
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot store the token for {principal.user!r}: {error}") from error

    async def load_tokens(self) -> dict[str, StoredToken]:
        """sha256 -> token, for every token not revoked (expired ones included: callers check)."""
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(
                    select(tokens_table.c.token_sha256, tokens_table.c.principal)
                    .where(tokens_table.c.revoked.is_(False)))).all()
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot load tokens: {error}") from error
        return {digest: StoredToken.from_json(principal) for digest, principal in rows}

    async def find_token(self, token_sha256: str) -> StoredToken | None:
        """The token with this digest unless revoked (expired ones included: callers check)."""
        try:
            async with self.engine.connect() as conn:
                row = (await conn.execute(
                    select(tokens_table.c.principal).where(
                        tokens_table.c.token_sha256 == token_sha256, tokens_table.c.revoked.is_(False)))).first()
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot look up a token: {error}") from error
        return None if row is None else StoredToken.from_json(row[0])

    async def list_tokens(self) -> list[TokenInfo]:
        """Every token, revoked and expired ones too, oldest first (never the token itself)."""
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select(tokens_table).order_by(tokens_table.c.created_at))).mappings().all()
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot list tokens: {error}") from error
        infos = []
        for row in rows:
            token = StoredToken.from_json(row["principal"])
            infos.append(TokenInfo(
                id=row["token_sha256"][:TOKEN_ID_LENGTH], user=token.principal.user,
                namespaces=token.principal.namespaces, scopes=token.principal.scopes,
                created_at=_aware(row["created_at"]), expires_at=token.expires_at, revoked=bool(row["revoked"])))
        return infos

    async def revoke_tokens(self, *, user: str | None = None, token_id: str | None = None) -> list[str]:
        """Revoke the tokens of ``user``, or the one whose id (sha256 prefix) is ``token_id``; their ids."""
        if (user is None) == (token_id is None):
            raise RegistryError("revoke needs exactly one of user or id")
        try:
            async with self.engine.begin() as conn:
                rows = (await conn.execute(select(tokens_table.c.token_sha256, tokens_table.c.principal)
                                           .where(tokens_table.c.revoked.is_(False)))).all()
                digests = [digest for digest, principal in rows
                           if (token_id is not None and digest.startswith(token_id.lower()))
                           or (user is not None and principal.get("user") == user)]
                if token_id is not None and len(digests) > 1:
                    raise RegistryError(f"id {token_id!r} matches {len(digests)} tokens; give more of it "
                                        "(`controlroom token list` shows 12 digits)")
                if digests:
                    await conn.execute(tokens_table.update().where(tokens_table.c.token_sha256.in_(digests))
                                       .values(revoked=True))
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot revoke tokens: {error}") from error
        return [digest[:TOKEN_ID_LENGTH] for digest in digests]

    async def publish_keys(self, replica: str, jwks: list[dict[str, Any]]) -> None:
        """Make ``jwks`` (public keys only) this replica's published keys, refreshed now; keys it
        published before and no longer does are removed at once (a rotation with --drop-retired)."""
        now = datetime.now(UTC)
        kids = [str(jwk["kid"]) for jwk in jwks]
        try:
            async with self.engine.begin() as conn:
                await conn.execute(delete(public_keys_table).where(
                    (public_keys_table.c.replica == replica) | public_keys_table.c.kid.in_(kids)))
                if jwks:
                    await conn.execute(public_keys_table.insert(), [
                        {"kid": kid, "replica": replica, "jwk": jwk, "refreshed_at": now} for kid, jwk in zip(kids, jwks)])
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot publish the identity keys of replica {replica!r}: {error}") from error

    async def published_keys(self, refreshed_after: datetime) -> list[tuple[str, dict[str, Any]]]:
        """(replica, public JWK) of every key some replica refreshed after ``refreshed_after``."""
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select(public_keys_table.c.replica, public_keys_table.c.jwk)
                                           .where(public_keys_table.c.refreshed_at > refreshed_after)
                                           .order_by(public_keys_table.c.kid))).all()
        except SQLAlchemyError as error:
            raise RegistryError(f"cannot read the published identity keys: {error}") from error
        return [(replica, jwk) for replica, jwk in rows]
