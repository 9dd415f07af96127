"""Run a node: MCP over streamable HTTP at ``/mcp`` (registered with a gateway when asked) or stdio.

Example::

    await serve_node(NodeSettings(name="n1", port=8801, gateway="http://127.0.0.1:8700", token="t"))
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastmcp import FastMCP
from pydantic import SecretStr

from mcp_nodes.http import serve_http
from workflows.store.private import private_dir, write_private
from mcp_nodes.contract.registration import NodeInfo, NodeRegistration, NodeStatus
from mcp_nodes.runtime import NodeRuntime, node_runtime
from mcp_nodes.settings import NodeSettings
from mcp_nodes.version import node_version

__all__ = ["ensure_token", "node_info", "serve_node", "serve_stdio"]

log = logging.getLogger(__name__)
REGISTERED_WAIT_S = 15.0  # how long serve_node waits for its first registration before ``started``
TEARDOWN_S = 120.0
"""Longest clean-up of a stopping node (testbeds stopped, registration withdrawn, store closed);
each of its steps has a smaller bound of its own (docs/testbed.md, "How a stop proceeds")."""


def ensure_token(settings: NodeSettings) -> str:
    """The node token: the configured one, else ``state_dir/node.token`` (created once, mode 0600)."""
    if settings.token is not None:
        return settings.token.get_secret_value()
    path = settings.state_dir / "node.token"
    if not path.exists():
        private_dir(settings.state_dir)
        write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


async def node_info(mcp: FastMCP, runtime: NodeRuntime, url: str) -> NodeInfo:
    """What the node registers: name, URL, labels, namespaces, version and its tool schemas."""
    tools: list[dict[str, Any]] = [
        tool.to_mcp_tool().model_dump(mode="json", by_alias=True, exclude_none=True)
        for tool in await mcp.list_tools(run_middleware=False)
    ]
    return NodeInfo(name=runtime.settings.name, url=url, labels=runtime.settings.labels,
                    namespaces=runtime.manager.namespaces(), version=node_version(), tools=tools)


async def serve_node(settings: NodeSettings, *,
                     started: Callable[[str], Awaitable[None] | None] | None = None) -> None:
    """Serve the node over HTTP until cancelled; register with ``settings.gateway`` if set.

    ``started`` is called with the MCP URL once the node accepts connections and, with a
    gateway, once the gateway accepted its registration (or ``REGISTERED_WAIT_S`` passed).
    """
    if settings.token is None:
        settings = settings.model_copy(update={"token": SecretStr(ensure_token(settings))})
    # "until cancelled" includes a cancel scope's cancellation (an anyio task group), which cancels
    # every await of a clean-up running in it: the testbeds would not stop, the store would not
    # close. The node lives in a task of its own; a cancellation reaches it once (asyncio's, as
    # ``controlroom up`` stops it), and the wait for its clean-up is shielded and bounded.
    serving = asyncio.ensure_future(_serve(settings, started))
    try:
        await asyncio.shield(serving)
    except BaseException:
        serving.cancel()
        with anyio.move_on_after(TEARDOWN_S, shield=True):
            await asyncio.wait({serving})
        if not serving.done():
            log.warning("node %s: clean-up not finished after %.0f s", settings.name, TEARDOWN_S)
        raise


async def _serve(settings: NodeSettings, started: Callable[[str], Awaitable[None] | None] | None) -> None:
    """The node's serving life (the task `serve_node` runs and cancels)."""
    async with AsyncExitStack() as stack:
        runtime = await stack.enter_async_context(node_runtime(settings))
        mcp = runtime.build()
        # Host/Origin checked (DNS rebinding): loopback, the bound address and the public URL's host
        public_host = urlsplit(settings.public_url).hostname if settings.public_url else None
        app = mcp.http_app(path="/mcp", host_origin_protection=True,
                           allowed_hosts=[public_host] if public_host else [])
        port = await stack.enter_async_context(serve_http(app, settings.host, settings.port))
        url = settings.mcp_url(port)
        if settings.gateway:
            token = settings.gateway_token or settings.token
            assert token is not None  # set above
            info = await node_info(mcp, runtime, url)

            def status() -> NodeStatus:
                return NodeStatus(load=float(len(runtime.manager.namespaces())),
                                  namespaces=runtime.manager.namespaces())

            # the registration brings the gateway's public keys (and fetches them on an unknown kid):
            # nothing secret of the gateway's is ever copied to the node
            registration = await stack.enter_async_context(NodeRegistration(
                settings.gateway, token.get_secret_value(), info, settings.register_interval_s, status=status,
                keys=runtime.services.identity_keys))
            # ``started`` means reachable through the gateway too (controlroom up prints its banner
            # then, and a client listing tools at once must see the node's); a gateway that does
            # not answer does not keep the node from serving: the registration keeps retrying
            try:
                await registration.wait_registered(REGISTERED_WAIT_S)
            except TimeoutError:
                log.warning("node %s not registered with %s after %.0f s; still trying", settings.name,
                            settings.gateway, REGISTERED_WAIT_S)
        log.info("node %s serving MCP at %s", settings.name, url)
        if started is not None:
            result = started(url)
            if result is not None:
                await result
        await anyio.sleep_forever()


async def serve_stdio(settings: NodeSettings) -> None:
    """Serve the node over stdio (for a client that launches it); the caller has every namespace."""
    async with node_runtime(settings) as runtime:
        await runtime.build().run_stdio_async(show_banner=False)
