"""Capabilities: a token's scopes (read, operate, author, admin) are checked by the gateway AND,
from the identity it verifies, by the node. Each test is the attack: the call is refused, the
refusal names the missing scope and the command that grants it, and nothing happened."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from pydantic import SecretStr

from mcp_gateway.calls import ROUTE_META
from mcp_gateway.models import CallRecord
from mcp_gateway.registry_store import tokens_table
from mcp_nodes.contract.identity import Identity
from mcp_nodes.contract.scopes import TOOL_SCOPES
from tests.mcp_gateway.conftest import ROOT, RunningGateway, gateway  # noqa: F401 - fixture
from tests.mcp_nodes.conftest import LiveNode, live_node  # noqa: F401 - fixture
from tests.support.identity import identity_token

SPEC = "# SPEC: evil-spec\n\nformat: controlroom-spec/1\n"
OLD = "2020-01-01T00:00:00Z"


class Records:
    """The gateway's call records (a `CallObserver`)."""

    def __init__(self) -> None:
        self.items: list[CallRecord] = []

    async def on_call(self, record: CallRecord) -> None:
        self.items.append(record)


@dataclass
class Stack:
    gateway: RunningGateway
    records: Records

    def client(self, token: str) -> Client:
        return Client(StreamableHttpTransport(self.gateway.mcp_url, auth=token))


@pytest.fixture
async def stack(gateway: RunningGateway, tmp_path: Path) -> AsyncIterator[Stack]:  # noqa: F811
    """The gateway with one real execution node (in this process) registered to it."""
    from mcp_nodes.serve import serve_node
    from mcp_nodes.settings import NodeSettings

    records = Records()
    gateway.gateway.add_observer(records)
    node_token = await gateway.token("n1", ["*"], scopes=["node"])
    settings = NodeSettings(name="n1", port=0, state_dir=tmp_path / "node", token=SecretStr(node_token),  # type: ignore[call-arg]
                            gateway=gateway.url, register_interval_s=0.3, heartbeat_interval_s=0.5)
    task = asyncio.create_task(serve_node(settings))
    try:
        with anyio.fail_after(60):
            while "spec_generate" not in gateway.gateway.registry.catalog:
                if task.done():
                    task.result()
                await anyio.sleep(0.1)
        yield Stack(gateway, records)
    finally:
        task.cancel()
        with anyio.move_on_after(20):
            await asyncio.gather(task, return_exceptions=True)


def text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def refused_for(result: Any, scope: str, grant: str) -> None:
    """An isError naming the missing scope and the `controlroom token create` that grants it."""
    assert result.is_error, result
    message = text(result)
    assert f"needs the {scope!r} scope" in message, message
    assert grant in message, message


async def test_the_gateway_refuses_by_scope_and_nothing_reaches_the_node(stack: Stack) -> None:
    gw = stack.gateway
    reader = await gw.token("reader", ["r"], scopes=["read"])
    operator = await gw.token("op", ["r"])  # read,operate: the default
    admin = await gw.token("root", ["*"], scopes=["admin"])
    async with stack.client(admin) as c:
        served = {tool.name for tool in await c.list_tools()}  # the real node's tools and the gateway's own
        assert {"start_workflow", "spec_generate", "prune", "whoami", "debug_execution"} <= served
        assert served <= set(TOOL_SCOPES), f"give {sorted(served - set(TOOL_SCOPES))} a line in TOOL_SCOPES " \
                                           "(mcp_nodes/contract/scopes.py) and the table in docs/security.md"
    async with stack.client(operator) as c:  # tools/list shows what the token may call, nothing more
        shown = {tool.name for tool in await c.list_tools()}
        assert shown == {t for t in served if TOOL_SCOPES[t] in ("read", "operate")}, sorted(served ^ shown)
    async with stack.client(reader) as c:
        shown = {tool.name for tool in await c.list_tools()}
        assert {"whoami", "list_workflow_executions"} <= shown
        assert shown == {t for t in served if TOOL_SCOPES[t] == "read"}, sorted(served ^ shown)
        assert not (await c.call_tool("list_workflow_executions", {"namespace": "r"})).is_error  # read works
        for tool, arguments in [("start_testbed", {"namespace": "r"}),
                                ("start_workflow", {"namespace": "r"}),
                                ("send_message", {"namespace": "r", "msg_type": "scale_workers", "body": {}})]:
            result = await c.call_tool(tool, arguments, raise_on_error=False)
            refused_for(result, "operate", "controlroom token create --user reader --namespaces r --scopes read,operate")
            assert ROUTE_META not in (result.meta or {}), tool
        own = await c.call_tool("debug_execution", {"namespace": "r"}, raise_on_error=False)  # a gateway tool
        refused_for(own, "operate", "--scopes read,operate")
    async with stack.client(operator) as c:
        generated = await c.call_tool("spec_generate", {"spec_text": SPEC, "dry_run": False}, raise_on_error=False)
        refused_for(generated, "author", "controlroom token create --user op --namespaces r --scopes read,operate,author")
        registered = await c.call_tool("register_workflow_definition", {"name": "evil_spec"}, raise_on_error=False)
        refused_for(registered, "author", "--scopes read,operate,author")
        pruned = await c.call_tool("prune", {"older_than": OLD}, raise_on_error=False)
        refused_for(pruned, "admin", "--scopes read,operate,admin")
        # nothing happened: no agent started in r, no definition written
        agents = await c.call_tool("list_agents", {"namespace": "r"})
        assert agents.structured_content["total"] == 0
        definitions = await c.call_tool("list_workflow_definitions", {})
        assert "evil_spec" not in str(definitions.structured_content)
    refused = [r for r in stack.records.items if r.user in ("reader", "op") and r.outcome == "denied"]
    assert len(refused) == 6 and all(r.node is None for r in refused)  # none was forwarded
    async with stack.client(admin) as c:  # the same call with the scope goes through to the node
        pruned = await c.call_tool("prune", {"older_than": OLD}, raise_on_error=False)
        assert not pruned.is_error, text(pruned)


async def test_the_node_refuses_a_signed_identity_without_the_scope(live_node: LiveNode) -> None:  # noqa: F811
    """A correctly signed identity sent straight to the node: the node re-checks the scopes."""
    node = live_node.runtime.settings.name

    def as_(identity: Identity) -> Client:
        return live_node.client(token=identity_token(node, identity))

    async with as_(Identity(user="reader", namespaces=["r"], scopes=["read"])) as c:
        for tool, arguments in [("start_testbed", {"namespace": "r"}), ("start_workflow", {"namespace": "r"})]:
            refused_for(await c.call_tool(tool, arguments, raise_on_error=False), "operate",
                        "controlroom token create --user reader --namespaces r --scopes read,operate")
        assert (await c.call_tool("list_agents", {"namespace": "r"})).structured_content["total"] == 0
    # namespaces "*" without the admin scope: the node's own "*" check alone would let prune run
    async with as_(Identity(user="ops", namespaces=["*"], scopes=["read", "operate"])) as c:
        refused_for(await c.call_tool("prune", {"older_than": OLD}, raise_on_error=False), "admin",
                    "--scopes read,operate,admin")
        refused_for(await c.call_tool("spec_generate", {"spec_text": SPEC, "dry_run": False}, raise_on_error=False),
                    "author", "--scopes read,operate,author")
    async with as_(Identity(user="nobody", namespaces=["r"], scopes=[])) as c:  # no scope claim: nothing at all
        refused_for(await c.call_tool("list_agents", {"namespace": "r"}, raise_on_error=False), "read",
                    "--scopes read")
    async with as_(Identity(user="reader", namespaces=["r"], scopes=["read"])) as c:
        assert not (await c.call_tool("list_agents", {"namespace": "r"}, raise_on_error=False)).is_error


async def test_legacy_tokens_read_as_read_operate_and_admin_for_star(gateway: RunningGateway) -> None:  # noqa: F811
    """Rows stored before scopes existed (principal JSON with scopes [] or none) keep working."""
    from datetime import UTC, datetime

    from mcp_gateway.auth import TOKEN_PREFIX, token_digest

    tokens = {"old-user": (["a"], ["read", "operate"]), "old-admin": (["*"], ["read", "operate", "admin"])}
    async with gateway.gateway.store.engine.begin() as conn:
        for user, (namespaces, _) in tokens.items():
            await conn.execute(tokens_table.insert().values(
                token_sha256=token_digest(TOKEN_PREFIX + user), principal={"user": user, "namespaces": namespaces,
                                                                           "labels": {}, "scopes": []},
                created_at=datetime.now(UTC), revoked=False))
    for user, (_, scopes) in tokens.items():
        async with Client(StreamableHttpTransport(gateway.mcp_url, auth=TOKEN_PREFIX + user)) as c:
            assert (await c.call_tool("whoami", {})).structured_content["scopes"] == scopes


def test_the_documented_scope_table_is_tool_scopes() -> None:
    """docs/security.md shows TOOL_SCOPES; the doc and the table cannot drift apart."""
    doc = (ROOT / "docs" / "security.md").read_text()
    section = doc.split("## Capabilities: scopes per token", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for scope, tools in re.findall(r"^\| `(read|operate|author|admin)` \| (.+?) \|$", section, flags=re.M):
        for tool in re.findall(r"`([a-z_]+)`", tools):
            documented[tool] = scope
    assert documented == TOOL_SCOPES
