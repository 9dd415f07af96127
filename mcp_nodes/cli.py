"""`controlroom node`: run an execution node (HTTP, optionally registered with a gateway) or stdio."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Literal

from cyclopts import App, Parameter
from pydantic import ValidationError

from mcp_nodes.settings import NodeSettings

app = App(name="node", help="Run an execution node: MCP over HTTP at /mcp (default) or stdio.")

__all__ = ["app"]


def _labels(text: str | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--labels: {item!r} is not k=v; write e.g. --labels site=bnl,gpu=yes")
        labels[key.strip()] = value.strip()
    return labels


def _settings(**values: object) -> NodeSettings:
    try:
        return NodeSettings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as error:
        from mcp_nodes.edge import describe_validation_error

        print(f"controlroom node: {describe_validation_error(error).removeprefix('invalid arguments: ')}",
              file=sys.stderr)
        raise SystemExit(2) from None


@app.default
def serve(
    *,
    name: str | None = None,
    gateway: str | None = None,
    labels: str | None = None,
    host: str | None = None,
    port: int | None = None,
    state_dir: Path | None = None,
    database_url: str | None = None,
    bus: Literal["embedded", "stomp"] | None = None,
    stomp: Annotated[str | None, Parameter(help="broker host:port for --bus stomp")] = None,
    token: Annotated[str | None, Parameter(help="node bearer token (default: STATE_DIR/node.token)")] = None,
    gateway_token: str | None = None,
    unsafe_no_sandbox: Annotated[bool | None, Parameter(
        help="run caller code (task commands, callables, spec dry runs) WITHOUT the bubblewrap sandbox; "
             "unconfined, logged as a WARNING")] = None,
) -> None:
    """Serve the node over streamable HTTP at /mcp; with --gateway, register and heartbeat.

    Parameters
    ----------
    name
        Unique node name (shown by the gateway).
    gateway
        Gateway base URL, e.g. http://127.0.0.1:8700.
    labels
        Routing labels, k=v,k=v.
    host
        Interface to bind (127.0.0.1 unless you mean to expose the node).
    port
        HTTP port (0 = any free port).
    state_dir
        Holds node.db and node.token (default ~/.controlroom). The gateway's public identity keys
        come with the registration: nothing is copied from the gateway's state directory.
    database_url
        SQLAlchemy async URL (default SQLite in the state dir).
    bus
        embedded: agents in-process; stomp: agents as child processes on a broker.
    gateway_token
        Token presented to the gateway's registry (default: --token).
    """
    settings = _settings(name=name, gateway=gateway, labels=_labels(labels) if labels else None, host=host,
                         port=port, state_dir=state_dir, database_url=database_url, bus=bus, stomp=stomp,
                         token=token, gateway_token=gateway_token, unsafe_no_sandbox=unsafe_no_sandbox)
    from mcp_nodes.errors import NodeError
    from mcp_nodes.serve import serve_node

    def announce(url: str) -> None:
        print(f"controlroom node {settings.name}: MCP at {url}", flush=True)

    try:
        asyncio.run(serve_node(settings, started=announce))
    except KeyboardInterrupt:
        pass
    except NodeError as error:
        print(f"controlroom node: {error}", file=sys.stderr)
        raise SystemExit(2) from None


@app.command
def stdio(
    *,
    name: str | None = None,
    state_dir: Path | None = None,
    database_url: str | None = None,
    bus: Literal["embedded", "stomp"] | None = None,
    stomp: str | None = None,
) -> None:
    """Serve the node over stdio (for MCP clients that launch their servers)."""
    settings = _settings(name=name, state_dir=state_dir, database_url=database_url, bus=bus, stomp=stomp)
    from mcp_nodes.serve import serve_stdio

    asyncio.run(serve_stdio(settings))
