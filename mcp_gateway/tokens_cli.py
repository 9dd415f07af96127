"""`controlroom token create`: mint a bearer token for a user (or a node) and print it once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cyclopts import App

app = App(name="token", help="Bearer tokens of the gateway (stored as sha256; shown once).")


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--labels takes k=v pairs separated by commas, got {item!r}")
        pairs[key] = value
    return pairs


@app.command
def create(
    *,
    user: str,
    namespaces: str = "",
    labels: str = "",
    node: bool = False,
    state_dir: Path | None = None,
    database_url: str | None = None,
) -> int:
    """Create a token and print it (it is never shown again).

    Parameters
    ----------
    user: the principal's name (for a node token: the node's name)
    namespaces: granted namespaces, comma separated; "*" grants all (admin)
    labels: preferred node labels, k=v pairs separated by commas (routing preference)
    node: a node token (may register the node named --user) instead of a user token
    state_dir: the gateway's state directory (default from CONTROLROOM_GATEWAY_STATE_DIR or .controlroom)
    database_url: the gateway's database (default SQLite in the state directory)
    """
    from mcp_gateway.auth import create_token
    from mcp_gateway.models import Principal
    from mcp_gateway.registry_store import RegistryStore, open_engine
    from mcp_gateway.settings import GatewaySettings

    overrides: dict[str, object] = {}
    if state_dir is not None:
        overrides["state_dir"] = state_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    settings = GatewaySettings(**overrides)  # type: ignore[arg-type]
    try:
        principal = Principal(user=user, namespaces=[n for n in namespaces.split(",") if n.strip()],
                              labels=_pairs(labels), scopes=["node"] if node else [])
    except ValueError as error:
        print(f"error: {error}")
        return 2
    if settings.database_url is None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> str:
        engine = open_engine(settings.resolved_database_url())
        try:
            store = RegistryStore(engine)
            await store.create_tables()
            return await create_token(store, principal)
        finally:
            await engine.dispose()

    print(asyncio.run(run()))
    return 0
