"""A live in-process node: SQLite store, embedded bus, agents in-process, served over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastmcp import Client

from mcp_nodes.http import serve_http
from mcp_nodes.settings import NodeSettings
from tests.support.identity import JWKS

if TYPE_CHECKING:
    from mcp_nodes.runtime import NodeRuntime

TOKEN = "node-test-token"


@dataclass
class LiveNode:
    url: str
    runtime: NodeRuntime

    def client(self, token: str = TOKEN, **kwargs: object) -> Client:
        return Client(self.url, auth=token, timeout=60, **kwargs)


def node_settings(state_dir: Path, **overrides: object) -> NodeSettings:
    values: dict[str, object] = dict(name="test-node", port=0, state_dir=state_dir, token=TOKEN,
                                     identity_jwks=JWKS, heartbeat_interval_s=0.5)
    values.update(overrides)
    return NodeSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def live_node(tmp_path: Path) -> AsyncIterator[LiveNode]:
    from mcp_nodes.runtime import node_runtime

    settings = node_settings(tmp_path)
    async with node_runtime(settings) as runtime:
        async with serve_http(runtime.build().http_app(path="/mcp"), "127.0.0.1", 0) as port:
            yield LiveNode(url=f"http://127.0.0.1:{port}/mcp", runtime=runtime)
