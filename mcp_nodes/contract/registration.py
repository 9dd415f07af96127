"""Node side of the node <-> gateway registration contract (docs/node-gateway-contract.md).

The wire models here are the contract: the gateway imports them, the node fills them in.
`NodeRegistration` registers the node, renews its lease with heartbeats, re-registers when the
gateway has forgotten it (HTTP 404), backs off while the gateway is down, and deregisters on a
clean exit. Every answer carries the gateway's public identity keys (JWKS); with ``keys=`` the
registration keeps an `IdentityKeys` up to date with them and lets it fetch ``GET /nodes/jwks``
when a token names a key it does not know yet.

Example::

    info = NodeInfo(name="node-1", url="http://127.0.0.1:8801/mcp", namespaces=["alice"],
                    tools=[...], tools_hash="...")
    keys = IdentityKeys()                  # what the node's token verifier checks identities with
    async with NodeRegistration("http://127.0.0.1:8700", token, info, keys=keys) as registration:
        await registration.wait_registered(timeout=5)
        ...  # serve; heartbeats run in the background
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import httpx2
from pydantic import BaseModel, Field, field_validator

from mcp_nodes.contract.identity import IdentityKeys

__all__ = ["GatewayRefused", "Heartbeat", "NodeInfo", "NodeRegistration", "NodeStatus", "RegistrationAccepted",
           "tools_hash"]

log = logging.getLogger(__name__)

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


def tools_hash(tools: Sequence[dict[str, Any]]) -> str:
    """The sha256 of a tool list in canonical JSON (sorted keys, tools sorted by name).

    >>> tools_hash([{"name": "noop", "inputSchema": {"type": "object"}}])[:12]
    'fd284fbad751'
    """
    ordered = sorted(tools, key=lambda tool: str(tool.get("name", "")))
    return hashlib.sha256(json.dumps(ordered, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class NodeInfo(BaseModel):
    """What a node tells the gateway when it registers (POST /nodes/register)."""

    name: str = Field(pattern=_NAME_PATTERN, description="unique node name, e.g. 'bnl-node-1'")
    url: str = Field(description="the node's MCP endpoint, e.g. 'http://127.0.0.1:8801/mcp'")
    labels: dict[str, str] = Field(default_factory=dict, description="e.g. {'site': 'bnl'}")
    namespaces: list[str] = Field(default_factory=list, description="namespaces with a testbed here")
    version: str = "0"
    tools: list[dict[str, Any]] = Field(default_factory=list, description="MCP tool objects (tools/list)")
    tools_hash: str = Field(default="", description="tools_hash(tools); computed when empty")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http(s) URL of the node's MCP endpoint, got {value!r}")
        return value

    def model_post_init(self, context: Any, /) -> None:
        if not self.tools_hash:
            self.tools_hash = tools_hash(self.tools)


class NodeStatus(BaseModel):
    """The changing part of a node, sent with every heartbeat."""

    load: float = Field(default=0.0, ge=0.0, description="0 = idle; the gateway prefers low load")
    namespaces: list[str] | None = Field(default=None, description="None keeps the registered list")


class Heartbeat(NodeStatus):
    """POST /nodes/heartbeat: renews the node's lease."""

    name: str = Field(pattern=_NAME_PATTERN)


class RegistrationAccepted(BaseModel):
    """The gateway's answer to a registration or heartbeat."""

    name: str
    lease_s: float
    heartbeat_s: float
    jwks: dict[str, Any] = Field(default_factory=lambda: {"keys": []},
                                 description="the gateway's public identity keys (current, next, retired)")


class NodeRegistration:
    """Keep one node registered with one gateway for the lifetime of an ``async with`` block.

    ``interval`` overrides the heartbeat period the gateway suggests; ``status`` is called
    before each heartbeat for the node's current load and namespaces.
    """

    def __init__(
        self,
        gateway_url: str,
        token: str,
        info: NodeInfo,
        interval: float | None = None,
        *,
        status: Callable[[], NodeStatus] | None = None,
        max_backoff_s: float = 10.0,
        keys: IdentityKeys | None = None,
    ) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.info = info
        self.interval = interval
        self._status = status
        self._max_backoff_s = max_backoff_s
        self.keys = keys
        self._headers = {"Authorization": f"Bearer {token}"}
        self._registered = anyio.Event()
        self._client: httpx2.AsyncClient | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self.registrations = 0
        """How many times the node has (re-)registered; a restarted gateway that lost it bumps this."""

    async def __aenter__(self) -> Self:
        self._client = httpx2.AsyncClient(base_url=self.gateway_url, headers=self._headers, timeout=5.0)
        if self.keys is not None:
            self.keys.fetch = self.fetch_jwks
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._run)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task_group is not None and self._client is not None
        self._task_group.cancel_scope.cancel()
        await self._task_group.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            try:
                await self._client.delete(f"/nodes/{self.info.name}")
            except httpx2.HTTPError as error:
                log.info("could not deregister %s: %s", self.info.name, error)
        if self.keys is not None and self.keys.fetch == self.fetch_jwks:
            self.keys.fetch = None
        with anyio.CancelScope(shield=True):
            await self._client.aclose()

    async def fetch_jwks(self) -> dict[str, Any]:
        """GET the gateway's public identity keys (``/nodes/jwks``)."""
        assert self._client is not None
        response = await self._client.get("/nodes/jwks")
        response.raise_for_status()
        return dict(response.json())

    def _accepted(self, response: httpx2.Response) -> RegistrationAccepted:
        accepted = RegistrationAccepted.model_validate_json(response.content)
        if self.keys is not None and accepted.jwks.get("keys"):
            self.keys.update(accepted.jwks)
        return accepted

    async def wait_registered(self, timeout: float) -> None:
        """Wait until the first registration succeeded (TimeoutError after ``timeout`` s)."""
        with anyio.fail_after(timeout):
            await self._registered.wait()

    async def _register(self) -> RegistrationAccepted:
        assert self._client is not None
        response = await self._client.post("/nodes/register", content=self.info.model_dump_json())
        _raise_refused(response, "registration")
        accepted = self._accepted(response)
        self.registrations += 1
        self._registered.set()
        return accepted

    async def _heartbeat(self) -> bool:
        """Renew the lease; False when the gateway does not know the node (re-register)."""
        assert self._client is not None
        status = self._status() if self._status is not None else NodeStatus()
        beat = Heartbeat(name=self.info.name, load=status.load, namespaces=status.namespaces)
        response = await self._client.post("/nodes/heartbeat", content=beat.model_dump_json())
        if response.status_code == 404:
            return False
        _raise_refused(response, "heartbeat")
        self._accepted(response)
        return True

    async def _run(self) -> None:
        backoff = 0.2
        registered = False
        period = self.interval or 3.0
        while True:
            try:
                if not registered:
                    accepted = await self._register()
                    period = self.interval or accepted.heartbeat_s
                    registered = True
                    log.info("node %s registered with %s", self.info.name, self.gateway_url)
                elif not await self._heartbeat():
                    log.info("gateway forgot node %s; registering again", self.info.name)
                    registered = False
                    continue
                backoff = 0.2
                await anyio.sleep(period)
            except GatewayRefused as error:
                log.error("%s (retry in %.1f s)", error, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s, period * 2)
            except (httpx2.HTTPError, ValueError) as error:
                log.warning("gateway %s unreachable for %s: %s (retry in %.1f s)",
                            self.gateway_url, self.info.name, error, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s, period * 2)


class GatewayRefused(Exception):
    """The gateway answered a registration or heartbeat with a 4xx: its message says why."""


def _raise_refused(response: httpx2.Response, what: str) -> None:
    if 400 <= response.status_code < 500:
        try:
            reason = str(response.json().get("error"))
        except (ValueError, AttributeError):
            reason = response.text[:300]
        raise GatewayRefused(f"the gateway refused the {what} (HTTP {response.status_code}): {reason}")
    response.raise_for_status()
