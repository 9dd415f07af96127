"""`controlroom gateway serve|stdio`: run the gateway, or bridge stdio MCP clients to it."""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

app = App(name="gateway", help="The MCP gateway: node registry, routing, auth, limits.")


@app.command
def serve(
    *,
    host: str | None = None,
    port: int | None = None,
    state_dir: Path | None = None,
    database_url: str | None = None,
) -> int:
    """Serve the gateway over streamable HTTP at /mcp (and the node registry at /nodes).

    Like `controlroom up`, it records every routed call as provenance (state_dir/controlroom.db,
    or the --database-url database) and serves the prov_* tools.

    Parameters
    ----------
    host: interface to bind (default 127.0.0.1)
    port: TCP port (default 8700; 0 picks a free one)
    state_dir: directory of gateway.db and identity.key (default .controlroom)
    database_url: SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/db
    """
    import anyio

    from mcp_gateway.provenance import gateway_recorder
    from mcp_gateway.server import build_gateway, serve_gateway
    from mcp_gateway.settings import GatewaySettings

    overrides = {k: v for k, v in {"host": host, "port": port, "state_dir": state_dir,
                                   "database_url": database_url}.items() if v is not None}
    settings = GatewaySettings(**overrides)  # type: ignore[arg-type]

    def ready(url: str) -> None:
        print(f"gateway ready at {url}/mcp", flush=True)

    async def run() -> None:
        async with gateway_recorder(settings.state_dir, settings.database_url) as recorder:
            await serve_gateway(gateway=build_gateway(settings, recorder=recorder), ready=ready)

    try:
        anyio.run(run)
    except KeyboardInterrupt:
        pass
    return 0


@app.command
def stdio(*, url: str = "http://127.0.0.1:8700/mcp", token: str) -> int:
    """Serve the gateway's tools over stdio, for clients that launch their MCP servers.

    A proxy to the HTTP gateway: every request is forwarded over one connected client.

    Parameters
    ----------
    url: the gateway's MCP URL
    token: bearer token for the gateway
    """
    from mcp_gateway.stdio import run_stdio_bridge

    run_stdio_bridge(url, token)
    return 0
