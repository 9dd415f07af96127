"""The stdio entry point: a FastMCP proxy that speaks stdio to the client and HTTP to the gateway.

Routing, auth and limits all stay in the HTTP gateway; this process only relays. fastmcp's
proxy keeps one connected backend client, so calls do not open sessions each time.
"""

from __future__ import annotations

from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.server import create_proxy


def run_stdio_bridge(url: str, token: str) -> None:
    """Serve the gateway at ``url`` (bearer ``token``) over stdio until stdin closes."""
    proxy = create_proxy(StreamableHttpTransport(url, auth=token), name="controlroom-gateway")
    proxy.run(transport="stdio", show_banner=False)
