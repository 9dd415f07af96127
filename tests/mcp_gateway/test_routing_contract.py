"""The routing contract: every argument of every node tool that names an entity routes through
the gateway without a ``node`` argument.

The node's own tools/list (as it registered with the gateway) is the source: each argument must
be a routed entity (`ENTITY_ARGUMENTS`, `TOOL_ENTITY_ARGUMENTS`, `FILTER_ENTITY_ARGUMENTS`), a
namespace (`NAMESPACE_ARGUMENTS`) or declared plain (`PLAIN_ARGUMENTS`, `TOOL_PLAIN_ARGUMENTS`),
so a new entity argument without a route fails here. Then each routed argument is called through
a real gateway with two real nodes, n1 and n2, both allowed to hold namespace alice, where the
entity lives on n2 only: without the route the call would go to n1 (least loaded, name order).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from mcp_gateway.routing import (ENTITY_ARGUMENTS, FILTER_ENTITY_ARGUMENTS, NAMESPACE_ARGUMENTS, PLAIN_ARGUMENTS,
                                 TOOL_ENTITY_ARGUMENTS, TOOL_PLAIN_ARGUMENTS)
from mcp_gateway.server import build_gateway
from mcp_nodes.serve import serve_node
from tests.mcp_gateway.conftest import RunningGateway, gateway_settings, running
from tests.mcp_nodes.conftest import node_settings
from workflows.store import LogIn, Store
from workflows.store.records import SliceIn

NODE_NAMES = ("n1", "n2")
GATEWAY_TOOLS = frozenset({"list_nodes", "get_node", "whoami"})


async def until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def entity_kind(tool: str, argument: str) -> str | None:
    """The entity kind the gateway routes ``tool``'s ``argument`` by, or None."""
    return (ENTITY_ARGUMENTS.get(argument) or TOOL_ENTITY_ARGUMENTS.get((tool, argument))
            or FILTER_ENTITY_ARGUMENTS.get((tool, argument)))


def unclassified(tools: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(tool, argument) pairs neither routed nor declared plain."""
    return [(tool["name"], argument) for tool in tools
            for argument in (tool.get("inputSchema") or {}).get("properties", {})
            if entity_kind(tool["name"], argument) is None and (tool["name"], argument) not in NAMESPACE_ARGUMENTS
            and argument not in PLAIN_ARGUMENTS and (tool["name"], argument) not in TOOL_PLAIN_ARGUMENTS]


@dataclass
class World:
    gateway: RunningGateway
    tools: list[dict[str, Any]]
    ids: dict[str, Any]


async def seed(state_dir: Path) -> dict[str, Any]:
    """An execution with its run, STF file, TF slices, agent and log entry, in n2's store (namespace alice)."""
    async with Store.from_url(f"sqlite+aiosqlite:///{state_dir / 'node.db'}") as store:
        execution = await store.executions.create("stf_datataking", "alice", "alice", {}, "0" * 64, None, {}, False)
        await store.executions.set_status(execution.execution_id, "completed")
        run = 900_001
        await store.runs.start_run(run, "alice", execution.execution_id)
        stf = f"swf.{run}.000001.stf"
        await store.runs.add_stf(stf, "alice", execution.execution_id, run, 1)
        tf = f"swf.{run}.000001.tf"
        await store.runs.add_slices([SliceIn(namespace="alice", execution_id=execution.execution_id, run_number=run,
                                             tf_filename=tf, slice_id=i, start=i * 10, end=i * 10 + 9, tf_count=10)
                                     for i in range(15)])
        agent = "data-alice-seeded"
        await store.agents.upsert_agent(agent, "alice", "data", "EXITED")
        await store.logs.add_logs([LogIn(namespace="alice", agent=agent, level=logging.ERROR, message="seeded")])
        log_id = (await store.logs.list_logs(namespace="alice")).items[0].id
    return {"execution_id": execution.execution_id, "run_number": run, "filename": stf, "tf_filename": tf,
            "slice_id": 14, "agent": agent, "log_id": log_id}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    built = build_gateway(gateway_settings(tmp_path / "gw"))
    async with running(built) as gateway:
        tasks = []
        try:
            for name in NODE_NAMES:
                token = await gateway.token(name, ["alice"], scopes=["node"])
                settings = node_settings(tmp_path / name, name=name, gateway=gateway.url, gateway_token=token,
                                         identity_jwks=None, register_interval_s=0.3)
                started = asyncio.Event()
                tasks.append(asyncio.create_task(serve_node(settings, started=lambda _url, e=started: e.set())))
                await asyncio.wait({asyncio.ensure_future(started.wait()), tasks[-1]},
                                   return_when=asyncio.FIRST_COMPLETED)  # one at a time: store migrations run in-process
            registry = gateway.gateway.registry
            try:
                await until(lambda: all(n in registry.nodes and registry.nodes[n].health == "up" for n in NODE_NAMES))
            except AssertionError:
                failed = [t.exception() for t in tasks if t.done()]
                raise AssertionError(f"nodes did not register: {failed}") from None
            ids = await seed(tmp_path / "n2")
            yield World(gateway, registry.nodes["n2"].info.tools, ids)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def arguments_for(tool: dict[str, Any], argument: str, ids: dict[str, Any]) -> dict[str, Any]:
    """``argument`` naming the seeded entity, plus the tool's other required arguments."""
    kind = entity_kind(tool["name"], argument)
    value = {"execution": ids["execution_id"], "run": ids["run_number"], "tf": ids["tf_filename"],
             "stf": ids["filename"], "agent": ids["agent"], "log": ids["log_id"]}[kind]  # type: ignore[index]
    schema = tool.get("inputSchema") or {}
    filled = {"namespace": "alice", "slice_id": ids["slice_id"], "timeout_s": 0, "tf_filename": ids["tf_filename"]}
    arguments = {name: filled[name] for name in schema.get("required", []) if name in filled}
    arguments[argument] = value
    return arguments


async def test_every_node_tool_argument_is_routed_or_declared_plain(world: World) -> None:
    assert len(world.tools) > 20  # the real node's tools/list, as it registered
    assert unclassified(world.tools) == [], "a node tool argument names no route: add it to mcp_gateway/routing.py"
    # the check can fail: an argument nobody declared (a new entity, say) is reported
    invented = {"name": "get_tf_sample", "inputSchema": {"properties": {"tf_sample_id": {"type": "string"}}}}
    assert unclassified([*world.tools, invented]) == [("get_tf_sample", "tf_sample_id")]


async def test_each_entity_argument_routes_to_the_node_holding_the_entity(world: World) -> None:
    alice = await world.gateway.token("alice", ["alice"])
    routed = [(tool, argument) for tool in world.tools
              for argument in (tool.get("inputSchema") or {}).get("properties", {})
              if entity_kind(tool["name"], argument) is not None]
    names = {(tool["name"], argument) for tool, argument in routed}
    assert {("get_tf_slice", "tf_filename"), ("get_stf_file", "filename"), ("get_log_entry", "log_id"),
            ("restart_agent", "name"), ("list_logs", "agent"), ("get_run", "run_number")} <= names
    async with Client(world.gateway.mcp_url, auth=alice, timeout=60) as client:
        # without an entity the call goes to n1: what makes n2 below is the entity
        plain = await client.call_tool("list_workflow_executions", {"namespace": "alice"})
        assert plain.meta["controlroom/route"]["node"] == "n1"
        wrong = []
        for tool, argument in routed:
            arguments = arguments_for(tool, argument, world.ids)
            result = await client.call_tool(tool["name"], arguments, raise_on_error=False)
            route = (result.meta or {}).get("controlroom/route")
            text = result.content[0].text if result.is_error and result.content else ""
            if route != {"node": "n2", "reason": "entity"} or "UnknownEntity" in text:
                wrong.append((tool["name"], argument, route, text[:200]))
        assert wrong == []
        # slice 14 exists in every TF file: get_tf_slice answers the one of the TF file named
        one = await client.call_tool("get_tf_slice", {"tf_filename": world.ids["tf_filename"], "slice_id": 14})
        assert (one.structured_content["tf_filename"], one.structured_content["slice_id"]) == (world.ids["tf_filename"], 14)


async def test_a_guessed_execution_id_is_unknown_and_names_where_real_ids_are(world: World) -> None:
    alice = await world.gateway.token("alice", ["alice"])
    async with Client(world.gateway.mcp_url, auth=alice, timeout=60) as client:
        guessed = await client.call_tool("get_workflow_execution", {"execution_id": "stf_datataking-alice-0042"},
                                         raise_on_error=False)
    text = guessed.content[0].text
    assert guessed.is_error and "unknown execution 'stf_datataking-alice-0042'" in text
    assert "list_workflow_executions" in text and "{workflow}-{user}-{NNNN}" in text
    assert "healthy node" not in text and "node_down" not in text


async def test_a_namespace_named_by_another_argument_is_checked_like_namespace(world: World) -> None:
    alice = await world.gateway.token("alice", ["alice"])
    async with Client(world.gateway.mcp_url, auth=alice, timeout=60) as client:
        theirs = await client.call_tool("get_namespace", {"name": "bob"}, raise_on_error=False)
    assert theirs.is_error and "not granted" in theirs.content[0].text
    assert theirs.meta is None or "controlroom/route" not in theirs.meta  # refused before any node was chosen
