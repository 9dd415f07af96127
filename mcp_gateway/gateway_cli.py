"""`controlroom gateway serve|stdio|rotate-key`: run the gateway, bridge stdio MCP clients to it, rotate its key."""

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
    replica_id: str | None = None,
    policy: Path | None = None,
    watch: float | None = None,
) -> int:
    """Serve the gateway over streamable HTTP at /mcp (and the node registry at /nodes).

    Like `controlroom up`, it records every routed call as provenance (state_dir/controlroom.db,
    or the --database-url database), serves the prov_* tools, and its debugging agent uses an
    LLM when one is configured (docs/debugging.md).

    Parameters
    ----------
    host: interface to bind (default 127.0.0.1)
    port: TCP port (default 8700; 0 picks a free one)
    state_dir: directory of gateway.db and identity-keys.json (default .controlroom)
    database_url: SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/db; replicas given the
        same URL share nodes, tokens, identity keys (public halves) and provenance (docs/gateway.md)
    replica_id: this replica's name among those sharing the database (its provenance stream is
        gateway-REPLICA_ID; default: a digest of the host name and state directory)
    policy: the debugging agent's policy file (AUTO / ASK / STOP per scope and fix; see docs/debugging.md)
    watch: look for failures every WATCH seconds and debug them without being asked (off by default)
    """
    import anyio

    from agents.ai.debugger.policy import load_policy

    from mcp_gateway.provenance import gateway_recorder
    from mcp_gateway.server import build_gateway, serve_gateway
    from mcp_gateway.settings import GatewaySettings
    from mcp_gateway.up import llm_if_configured

    overrides = {k: v for k, v in {"host": host, "port": port, "state_dir": state_dir, "database_url": database_url,
                                   "replica_id": replica_id, "watch_interval_s": watch}.items() if v is not None}
    settings = GatewaySettings(**overrides)  # type: ignore[arg-type]
    try:
        gate = load_policy(policy) if policy else None
    except ValueError as error:
        print(f"error: {error}")
        return 2

    def ready(url: str) -> None:
        from mcp_gateway.monitor import monitor_url
        from mcp_gateway.server import freeze_startup_heap

        freeze_startup_heap()
        print(f"gateway ready at {url}/mcp", flush=True)
        print(f"Web monitor: {monitor_url(url)}", flush=True)

    async def run() -> None:
        async with gateway_recorder(settings.state_dir, settings.database_url,
                                    stream=settings.provenance_stream()) as recorder:
            gateway = build_gateway(settings, recorder=recorder, policy=gate, llm=llm_if_configured())
            await serve_gateway(gateway=gateway, ready=ready)

    try:
        anyio.run(run)
    except KeyboardInterrupt:
        pass
    return 0


@app.command(name="rotate-key")
def rotate_key(*, state_dir: Path | None = None, drop_retired: bool = False) -> int:
    """Rotate the key that signs identity tokens; a running gateway picks it up within a second.

    The next key (published to nodes ahead of use) starts signing, the current one is retired but
    stays published until tokens signed with it expire, and a new next key is staged. Nodes keep
    serving: they already hold the new key, or fetch the gateway's JWKS when they first meet it.

    Parameters
    ----------
    state_dir: the gateway's state directory (default from CONTROLROOM_GATEWAY_STATE_DIR or .controlroom)
    drop_retired: unpublish the old key(s) at once (a leaked key): tokens they signed are refused
        within a heartbeat, calls in flight with them fail
    """
    from mcp_gateway.keys import rotate_keys
    from mcp_gateway.settings import GatewaySettings

    settings = GatewaySettings(**({"state_dir": state_dir} if state_dir is not None else {}))  # type: ignore[arg-type]
    rotation = rotate_keys(settings.identity_keys_path(), settings.identity_ttl_s, drop_retired=drop_retired)
    kept = "unpublished now" if drop_retired else "published until its tokens expire"
    print(f"signing with {rotation.current} (was {rotation.retired}, {kept}); next key {rotation.next}"
          + (f"; dropped {', '.join(rotation.dropped)}" if rotation.dropped else ""))
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
