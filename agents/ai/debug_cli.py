"""`controlroom debug EXECUTION_ID`: diagnose a failed or stuck execution and fix what the policy allows."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cyclopts import App
from rich.console import Console
from rich.markup import escape

from agents.ai.connection import resolve_connection
from agents.ai.debugger.loop import DebugReport, Debugger
from agents.ai.debugger.mcp_tools import McpToolCaller
from agents.ai.debugger.policy import Policy, load_policy
from agents.ai.settings import AISettings

app = App(name="debug", help="Diagnose a failure (rules first, then an LLM if configured) and apply allowed fixes.")


@app.default
def debug(
    execution_id: str | None = None,
    *,
    namespace: str | None = None,
    url: str | None = None,
    token: str | None = None,
    state_dir: Path | None = None,
    policy: Path | None = None,
) -> int:
    """Debug an execution (or a namespace's testbed with --namespace).

    Parameters
    ----------
    execution_id: the execution to debug, e.g. stf_datataking-alice-0001
    namespace: debug a namespace's testbed instead of one execution
    url: the gateway's MCP URL (default: from `controlroom up`)
    token: bearer token for the gateway
    state_dir: where `controlroom up` keeps its state (default ~/.controlroom)
    policy: a policy TOML file (AUTO / ASK / STOP per scope and fix)
    """
    console = Console()
    if execution_id is None and namespace is None:
        console.print("[red]give an EXECUTION_ID or --namespace NS[/red]")
        return 2
    try:
        connection = resolve_connection(url, token, state_dir)
        gate = load_policy(policy) if policy else Policy()
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    report = asyncio.run(_run(connection.url, connection.token, gate, execution_id, namespace))
    print_report(report, console)
    return 0 if report.outcome in ("healthy", "fixed", "reported", "awaiting_approval") else 1


async def _run(url: str, token: str, policy: Policy, execution_id: str | None, namespace: str | None) -> DebugReport:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    from agents.ai.anthropic_llm import AnthropicLLM

    settings = AISettings()
    llm = AnthropicLLM(settings) if settings.configured else None
    transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
    async with Client(transport) as client:
        debugger = Debugger(McpToolCaller(client), policy=policy, llm=llm)
        try:
            return await debugger.debug(execution_id=execution_id, namespace=namespace)
        finally:
            if llm is not None:
                await llm.aclose()


def print_report(report: DebugReport, console: Console) -> None:
    for step in report.steps:
        console.print(f"[bold]{step.kind:<12}[/bold] {escape(step.summary)}")
    if report.cited:
        console.print("[bold]cited[/bold]")
        for entry in report.cited:
            console.print(f"  {escape(entry.line())}")
    console.print(f"outcome: [bold]{report.outcome}[/bold]")
    if report.approval_id:
        console.print(f"approve with the approve_fix tool: approval_id={report.approval_id}")


if __name__ == "__main__":
    sys.exit(app())
