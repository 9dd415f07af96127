"""`NodeSettings`: every knob of an execution node, from arguments or CONTROLROOM_NODE_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_nodes.errors import NodeConfigError
from workflows.limits import Limits

if TYPE_CHECKING:
    from workflows.tasks.sandbox import Sandbox

__all__ = ["NodeSettings"]


class NodeSettings(BaseSettings):
    """Execution-node configuration; explicit constructor arguments win over the environment.

    Example::

        settings = NodeSettings(name="node-1", port=0, state_dir=tmp_path, token="s3cret")
        assert settings.resolved_database_url().startswith("sqlite+aiosqlite:///")
    """

    model_config = SettingsConfigDict(env_prefix="CONTROLROOM_NODE_", extra="forbid", env_nested_delimiter="__")

    name: str = Field(default="local", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
                      description="unique node name, shown by the gateway's list_nodes")
    host: str = Field(default="127.0.0.1", description="interface to bind; 127.0.0.1 unless told otherwise")
    port: int = Field(default=8801, ge=0, le=65535, description="HTTP port; 0 picks a free one")
    public_url: str | None = Field(default=None, description="URL the gateway should call; default http://host:port/mcp")
    state_dir: Path = Field(default=Path.home() / ".controlroom", description="holds node.db and node.token")
    database_url: str | None = Field(default=None, description="SQLAlchemy async URL; None = SQLite in state_dir")
    bus: Literal["embedded", "stomp"] = Field(default="embedded", description="embedded: agents in-process; stomp: child processes")
    stomp: str | None = Field(default=None, description="host:port of the STOMP broker (with bus=stomp)")
    token: SecretStr | None = Field(default=None, description="bearer token for direct callers (full access)")
    identity_jwks: dict[str, Any] | None = Field(
        default=None, description="public keys (JWKS) accepted for identity tokens before the gateway sends its own; "
                                  "None = only what the gateway sends when the node registers"
    )
    gateway: str | None = Field(default=None, description="gateway base URL to register with, e.g. http://127.0.0.1:8700")
    gateway_token: SecretStr | None = Field(default=None, description="node token for the gateway; default = token")
    labels: dict[str, str] = Field(default_factory=dict, description="routing labels, e.g. {'site': 'bnl'}")
    heartbeat_interval_s: float = Field(default=60.0, gt=0, description="agent heartbeat period")
    register_interval_s: float | None = Field(default=None, gt=0, description="gateway heartbeat; None = gateway's choice")
    workflows_dir: Path | None = Field(default=None, description="directory of workflow TOML configs; None = shipped")
    provenance: bool = Field(default=True, description="record executions, runs and files as PROV-AGENT")
    prov_database_url: str | None = Field(
        default=None, description="provenance database URL; None = SQLite state_dir/controlroom.db (shared with a local gateway)"
    )
    wait_progress_s: float = Field(default=1.0, gt=0, description="max gap between wait_for_execution progress notices")
    sandbox_bwrap: str = Field(default="bwrap", description="the bubblewrap program caller code runs under (a name on "
                               "PATH or a path; Debian package bubblewrap)")
    sandbox_hide: list[Path] = Field(default_factory=list, description="more directories the sandbox sees empty, "
                                     "beside state_dir (e.g. a database or key directory kept elsewhere)")
    unsafe_no_sandbox: bool = Field(default=False, description="run caller code (task commands, callables, "
                                    "spec_generate dry runs) WITHOUT a sandbox: unconfined, logged as a WARNING; "
                                    "env CONTROLROOM_NODE_UNSAFE_NO_SANDBOX, flag --unsafe-no-sandbox")
    limits: Limits = Field(
        default_factory=Limits,
        description="every count a caller can ask for (workers, tasks, testbeds and running executions per user, "
                    "STFs, stored bytes); env CONTROLROOM_NODE_LIMITS__<FIELD>, e.g. CONTROLROOM_NODE_LIMITS__MAX_WORKER_COUNT")

    @field_validator("stomp")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"stomp must be host:port, e.g. 127.0.0.1:61613, got {value!r}")
        return value

    def stomp_address(self) -> tuple[str, int] | None:
        """(host, port) of the broker, or None with the embedded bus."""
        if self.bus != "stomp":
            return None
        if self.stomp is None:
            raise NodeConfigError("bus=stomp needs stomp=host:port (--stomp 127.0.0.1:61613)")
        host, _, port = self.stomp.rpartition(":")
        return host, int(port)

    def sandbox(self) -> Sandbox:
        """How this node runs caller code: bwrap with ``state_dir`` (and ``sandbox_hide``) hidden."""
        from workflows.tasks.sandbox import Sandbox

        return Sandbox(bwrap=self.sandbox_bwrap, hidden=(self.state_dir, *self.sandbox_hide),
                       unsafe_no_sandbox=self.unsafe_no_sandbox)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under ``state_dir``."""
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'node.db'}"

    def mcp_url(self, port: int | None = None) -> str:
        """The URL of this node's MCP endpoint (``port`` = the port actually bound)."""
        if self.public_url:
            return self.public_url
        return f"http://{self.host}:{port if port is not None else self.port}/mcp"
