"""`controlroom up`: the one command — a gateway, one local node, the embedded bus and store.

Everything lives under one state directory (default ``~/.controlroom``): ``gateway.db`` (node
registry, tokens), ``node.db`` (the testbed store), ``controlroom.db`` (provenance),
``identity-keys.json`` (the gateway's private Ed25519 keys; the local node gets only the public
ones, when it registers, like any other node) and ``connection.json`` (the gateway URL and the user token, for `controlroom chat` and
`controlroom debug`). The first start creates an admin token and prints it; later starts reuse it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path

from cyclopts import App

from agents.ai.debugger.policy import Policy, load_policy
from agents.ai.llm import LLM

app = App(name="up", help="Start a gateway, one local node, the embedded bus and store; print how to connect.")


@app.default
def up(
    *,
    host: str = "127.0.0.1",
    port: int = 8700,
    state_dir: Path | None = None,
    node_port: int = 0,
    bus: str = "embedded",
    stomp: str | None = None,
    policy: Path | None = None,
    watch: float | None = None,
    unsafe_no_sandbox: bool = False,
) -> int:
    """Run until Ctrl-C.

    Parameters
    ----------
    host: interface to bind (127.0.0.1 unless you mean to expose it)
    port: the gateway's port (its MCP endpoint is http://HOST:PORT/mcp)
    state_dir: where state lives (default ~/.controlroom)
    node_port: the local node's port (0 picks a free one)
    bus: embedded (agents in-process) or stomp (agents as child processes on a broker)
    stomp: host:port of the STOMP broker, with --bus stomp
    policy: the debugging agent's policy file (AUTO / ASK / STOP per scope and fix; see docs/debugging.md)
    watch: look for failures every WATCH seconds and debug them without being asked (off by default)
    unsafe_no_sandbox: run caller code (task commands, callables, spec dry runs) WITHOUT the bubblewrap
        sandbox (unconfined; logged as a WARNING). Without it a node lacking bwrap refuses caller code.
    """
    state = (state_dir or Path.home() / ".controlroom").expanduser()
    from mcp_gateway.console import configure_console_logging
    from workflows.store.private import private_dir

    configure_console_logging(private_dir(state))  # one line per event here, tracebacks in state/controlroom.log
    try:
        gate = load_policy(policy) if policy else None
        return asyncio.run(
            run_up(host=host, port=port, state_dir=state, node_port=node_port, bus=bus, stomp=stomp, policy=gate,
                   watch_interval_s=watch, unsafe_no_sandbox=unsafe_no_sandbox)
        )
    except KeyboardInterrupt:
        return 0
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


async def _tokens(store: object, state_dir: Path) -> tuple[str, str]:
    """The user (admin) token and the local node's token: created on first start, then reused."""
    from mcp_gateway.auth import create_token, token_digest
    from mcp_gateway.models import Principal
    from workflows.store.private import write_private

    path = state_dir / "up-tokens.json"
    if path.exists():
        saved = json.loads(path.read_text())
        node_principal = await store.find_token(token_digest(saved["node"]))  # type: ignore[attr-defined]
        if node_principal is not None and "*" in node_principal.principal.namespaces:
            return saved["user"], saved["node"]
        # a state directory from before node tokens bounded namespaces: the local node needs "*"
        saved["node"] = await create_token(store, Principal(user="local", namespaces=["*"], scopes=["node"]))  # type: ignore[arg-type]
        path.write_text(json.dumps(saved))
        return saved["user"], saved["node"]
    user = await create_token(store, Principal(  # type: ignore[arg-type]
        user="admin", namespaces=["*"], scopes=["read", "operate", "author", "admin"]))
    # the local node may hold any namespace: it is the only node and runs in the gateway's process
    node = await create_token(store, Principal(user="local", namespaces=["*"], scopes=["node"]))  # type: ignore[arg-type]
    write_private(path, json.dumps({"user": user, "node": node}))
    return user, node


async def run_up(
    *, host: str, port: int, state_dir: Path, node_port: int = 0, bus: str = "embedded", stomp: str | None = None,
    policy: Policy | None = None, watch_interval_s: float | None = None, stop: asyncio.Event | None = None,
    unsafe_no_sandbox: bool = False,
) -> None | int:
    """Start everything, print the connection details, and run until ``stop`` is set or a signal arrives."""
    import anyio
    from pydantic import SecretStr

    from agents.ai.connection import Connection, write_connection
    from mcp_gateway.server import build_gateway, freeze_startup_heap, serve_gateway
    from mcp_gateway.settings import GatewaySettings
    from mcp_gateway.provenance import gateway_recorder
    from mcp_nodes.serve import serve_node
    from mcp_nodes.settings import NodeSettings

    from workflows.store.private import private_dir

    private_dir(state_dir)  # 0700: databases, keys and tokens live here
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    gateway_settings = GatewaySettings(host=host, port=port, state_dir=state_dir, watch_interval_s=watch_interval_s)
    gateway_ready = asyncio.Event()
    base_url: list[str] = []

    async with gateway_recorder(state_dir) as recorder:
        gateway = build_gateway(gateway_settings, recorder=recorder, policy=policy, llm=llm_if_configured())

        def on_gateway(url: str) -> None:
            base_url.append(url)
            gateway_ready.set()

        gateway_stop = anyio.Event()
        gateway_task = asyncio.create_task(serve_gateway(gateway=gateway, ready=on_gateway, stop=gateway_stop))
        node_task: asyncio.Task[None] | None = None
        try:
            await _first(gateway_ready.wait(), gateway_task)
            user_token, node_token = await _tokens(gateway.store, state_dir)
            node_settings = NodeSettings(
                name="local", host=host, port=node_port, state_dir=state_dir, bus=bus, stomp=stomp,  # type: ignore[arg-type]
                token=SecretStr(node_token), gateway=base_url[0],
                register_interval_s=gateway_settings.heartbeat_s, unsafe_no_sandbox=unsafe_no_sandbox,
            )
            node_ready = asyncio.Event()
            node_task = asyncio.create_task(serve_node(node_settings, started=lambda _url: node_ready.set()))
            await _first(node_ready.wait(), node_task)  # registered with the gateway by now
            mcp_url = f"{base_url[0]}/mcp"
            write_connection(state_dir, Connection(url=mcp_url, token=user_token))
            freeze_startup_heap()
            print_banner(mcp_url, user_token, state_dir)
            await _first(stop.wait(), gateway_task, node_task)
        finally:
            # the node first, so it deregisters while the gateway still answers; one cancellation
            # each (asyncio's, not a cancel scope's) lets their clean-up await what it must
            for task in (node_task, gateway_task):
                if task is not None and not task.done():
                    if task is gateway_task:
                        gateway_stop.set()
                    else:
                        task.cancel()
                    try:
                        async with asyncio.timeout(15):
                            await task
                    except (asyncio.CancelledError, TimeoutError):
                        pass
    return 0


def llm_if_configured() -> LLM | None:
    """The debugging agent's LLM when an API key is configured (rules alone otherwise)."""
    from agents.ai.anthropic_llm import AnthropicLLM
    from agents.ai.settings import AISettings

    settings = AISettings()
    return AnthropicLLM(settings) if settings.configured else None


async def _first(awaitable: Awaitable[object], *tasks: asyncio.Task[None] | None) -> None:
    """Wait for ``awaitable``; if one of ``tasks`` ends first, raise its error (a start-up failure)."""
    waiter = asyncio.ensure_future(awaitable)
    watched = {t for t in tasks if t is not None}
    done, _ = await asyncio.wait({waiter, *watched}, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        for task in done:
            task.result()
        raise RuntimeError("a service of `controlroom up` stopped during start-up")


def print_banner(mcp_url: str, token: str, state_dir: Path) -> None:
    from mcp_gateway.monitor import monitor_url

    lines = [
        f"controlroom is up — state in {state_dir}",
        f"  MCP URL:  {mcp_url}",
        f"  token:    {token}",
        f"Web monitor: {monitor_url(mcp_url.removesuffix('/mcp'))}",
        "Connect Claude Code:",
        f'  claude mcp add --transport http controlroom {mcp_url} --header "Authorization: Bearer {token}"',
        "Or the MCP Inspector:",
        f'  npx @modelcontextprotocol/inspector --cli {mcp_url} --transport http --header "Authorization: Bearer {token}" --method tools/list',
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)
