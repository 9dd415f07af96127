"""`controlroom token create|list|revoke`: the gateway's bearer tokens.

A token grants namespaces (where) and scopes (what: read, operate, author, admin; see
docs/security.md). It is printed once at creation and stored as its sha256; its id (the first
12 hex digits of that digest) names it in `list` and `revoke`. A running gateway refuses a
revoked or expired token within half a second, whichever replica serves the call.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cyclopts import App

if TYPE_CHECKING:
    from mcp_gateway.registry_store import RegistryStore

app = App(name="token", help="Bearer tokens of the gateway (stored as sha256; shown once).")

T = TypeVar("T")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--labels takes k=v pairs separated by commas, got {item!r}")
        pairs[key] = value
    return pairs


def principal_namespaces(text: str) -> list[str]:
    """``a, b`` -> ``["a", "b"]``."""
    return [n.strip() for n in text.split(",") if n.strip()]


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``45m``, ``90s``, ``2w`` from now, or an ISO-8601 time.

    >>> parse_expiry("2d", datetime(2026, 1, 1, tzinfo=UTC)).isoformat()
    '2026-01-03T00:00:00+00:00'
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match:
        return (now or datetime.now(UTC)) + timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--expires takes a duration like 30d, 12h, 45m or an ISO-8601 time, got {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _with_store(state_dir: Path | None, database_url: str | None, work: Callable[[RegistryStore], Awaitable[T]]) -> T:
    """Run ``work`` on the gateway's token store (the settings' database, created if absent)."""
    from mcp_gateway.registry_store import RegistryStore, open_engine
    from mcp_gateway.settings import GatewaySettings

    overrides: dict[str, object] = {}
    if state_dir is not None:
        overrides["state_dir"] = state_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    settings = GatewaySettings(**overrides)  # type: ignore[arg-type]
    if settings.database_url is None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> T:
        engine = open_engine(settings.resolved_database_url())
        try:
            store = RegistryStore(engine)
            await store.upgrade()  # the CLI may be the first to open the database
            return await work(store)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command
def create(
    *,
    user: str,
    namespaces: str = "",
    scopes: str = "read,operate",
    expires: str | None = None,
    labels: str = "",
    node: bool = False,
    state_dir: Path | None = None,
    database_url: str | None = None,
) -> int:
    """Create a token and print it (it is never shown again).

    Parameters
    ----------
    user: the principal's name (for a node token: the node's name)
    namespaces: granted namespaces, comma separated; "*" grants all
    scopes: read, operate, author, admin, comma separated (admin implies every namespace)
    expires: lifetime, e.g. 30d, 12h, 45m, or an ISO-8601 time (default: never)
    labels: preferred node labels, k=v pairs separated by commas (routing preference)
    node: a node token (may register the node named --user and hold only --namespaces; no capability scopes) instead of a user token
    state_dir: the gateway's state directory (default from CONTROLROOM_GATEWAY_STATE_DIR or .controlroom)
    database_url: the gateway's database (default SQLite in the state directory)
    """
    from mcp_gateway.auth import create_token
    from mcp_gateway.models import Principal
    from mcp_nodes.contract.scopes import NODE_SCOPE, SCOPES, normalize_scopes

    try:
        granted = [NODE_SCOPE] if node else normalize_scopes(scopes)
        if not node and not any(scope in SCOPES for scope in granted):
            raise ValueError(f"--scopes needs at least one of {', '.join(SCOPES)}")
        expires_at = parse_expiry(expires) if expires else None
        principal = Principal(user=user, namespaces=principal_namespaces(namespaces), labels=_pairs(labels),
                              scopes=granted)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    if "admin" in granted and [n for n in principal_namespaces(namespaces) if n != "*"]:
        print("note: the admin scope grants every namespace; --namespaces is ignored", file=sys.stderr)
    print(_with_store(state_dir, database_url, lambda store: create_token(store, principal, expires_at)))
    return 0


@app.command(name="list")
def list_tokens(*, state_dir: Path | None = None, database_url: str | None = None) -> int:
    """List tokens: id, user, namespaces, scopes, created, expires, revoked (never the token).

    Parameters
    ----------
    state_dir: the gateway's state directory (default from CONTROLROOM_GATEWAY_STATE_DIR or .controlroom)
    database_url: the gateway's database (default SQLite in the state directory)
    """
    tokens = _with_store(state_dir, database_url, lambda store: store.list_tokens())
    rows = [("ID", "USER", "NAMESPACES", "SCOPES", "CREATED", "EXPIRES", "REVOKED")]
    for token in tokens:
        rows.append((token.id, token.user, ",".join(token.namespaces) or "-", ",".join(token.scopes),
                     _when(token.created_at), _when(token.expires_at) if token.expires_at else "never",
                     "yes" if token.revoked else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


@app.command
def revoke(
    *,
    user: str | None = None,
    id: str | None = None,  # noqa: A002 - the option is --id
    state_dir: Path | None = None,
    database_url: str | None = None,
) -> int:
    """Revoke every token of a user, or one token by id; running gateways refuse them within 0.5 s.

    Parameters
    ----------
    user: revoke all tokens of this user
    id: revoke the token with this id (from `controlroom token list`)
    state_dir: the gateway's state directory (default from CONTROLROOM_GATEWAY_STATE_DIR or .controlroom)
    database_url: the gateway's database (default SQLite in the state directory)
    """
    if (user is None) == (id is None):
        print("error: give exactly one of --user U or --id ID (ids: controlroom token list)")
        return 2
    if id is not None and not re.fullmatch(r"[0-9a-fA-F]{6,64}", id):
        print(f"error: --id takes the hex id shown by `controlroom token list` (at least 6 digits), got {id!r}")
        return 2
    from mcp_gateway.errors import RegistryError

    try:
        revoked = _with_store(state_dir, database_url, lambda store: store.revoke_tokens(user=user, token_id=id))
    except RegistryError as error:
        print(f"error: {error}")
        return 2
    if not revoked:
        print(f"error: no live token {'of user ' + repr(user) if user else 'with id ' + repr(id)}; "
              "`controlroom token list` shows them")
        return 1
    print(f"revoked {len(revoked)} token(s): {', '.join(revoked)}")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"
