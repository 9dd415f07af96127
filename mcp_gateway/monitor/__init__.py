"""The web monitor served by the gateway at ``/ui/`` (docs/monitor.md).

Pages (`pages/`), sign-in and CSRF (`sessions.py`), the live feed (`live.py`), server-side SVG
charts (`charts.py`), and the one way to data: the gateway's call chain as the signed-in person
(`client.py`). Templates in ``templates/``; htmx and its SSE extension, pinned from npm, with
their licences in ``static/vendor/``.
"""

from mcp_gateway.monitor.app import monitor_app, monitor_routes
from mcp_gateway.monitor.sessions import COOKIE_PATH as MONITOR_PATH
from mcp_gateway.monitor.client import WEB_CLIENT, Backend

__all__ = ["MONITOR_PATH", "WEB_CLIENT", "Backend", "monitor_app", "monitor_routes", "monitor_url"]


def monitor_url(base_url: str) -> str:
    """The monitor's address for a gateway at ``base_url`` (``http://HOST:PORT``)."""
    return f"{base_url.rstrip('/')}{MONITOR_PATH}/"
