"""`controlroom workflow stats EXECUTION_ID`: the execution's characterization as a table (the
web monitor's characterization page shows the same rows), read through the gateway."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from agents.ai.connection import resolve_connection
from agents.testbed.statistics import Characterization, characterize, render_table


def stats(
    execution_id: str,
    *,
    url: str | None = None,
    token: str | None = None,
    state_dir: Path | None = None,
    json: bool = False,
    csv: bool = False,
) -> int:
    """Print an execution's characterization: time per DAQ phase, slices, latency, per-worker numbers.

    Parameters
    ----------
    execution_id: the execution, e.g. stf_datataking-alice-0001
    url: the gateway's MCP URL (default: from `controlroom up`)
    token: bearer token for the gateway
    state_dir: where `controlroom up` keeps its state (default ~/.controlroom)
    json: print JSON instead of the table
    csv: print CSV instead of the table
    """
    from agents.ai.debugger.evidence import ToolFailed

    try:
        connection = resolve_connection(url, token, state_dir)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(_read(connection.url, connection.token, execution_id))
    except ToolFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if json:
        print(result.model_dump_json(indent=2))
    elif csv:
        print(result.csv(), end="")
    else:
        print(render_table(result.rows()))
    return 0


async def _read(url: str, token: str, execution_id: str) -> Characterization:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    from agents.ai.debugger.mcp_tools import McpToolCaller

    transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
    async with Client(transport) as client:
        return await characterize(McpToolCaller(client), execution_id)
