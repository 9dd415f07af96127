"""`GatewaySettings`: every knob of the gateway, from arguments or CONTROLROOM_GATEWAY_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Gateway configuration; explicit constructor arguments win over the environment.

    Example::

        settings = GatewaySettings(port=0, state_dir=tmp_path, lease_s=2.0, heartbeat_s=0.5)
    """

    model_config = SettingsConfigDict(env_prefix="CONTROLROOM_GATEWAY_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    state_dir: Path = Field(default=Path(".controlroom"), description="holds gateway.db and identity-keys.json")
    database_url: str | None = Field(default=None, description="SQLAlchemy async URL; None = SQLite in state_dir")
    replica_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="this gateway's name among replicas sharing database_url (default: derived from host and state_dir)",
    )
    identity_ttl_s: float = Field(default=120.0, gt=0, description="lifetime of the identity JWT sent to nodes")
    lease_s: float = Field(default=10.0, gt=0, description="a node missing heartbeats this long is probed")
    heartbeat_s: float = Field(default=3.0, gt=0, description="heartbeat period suggested to nodes")
    probe_timeout_s: float = Field(default=1.0, gt=0)
    watch_interval_s: float | None = Field(
        default=None, gt=0, description="poll nodes for failures and debug them every N s (None = only on request)"
    )
    call_timeout_s: float = Field(default=60.0, gt=0, description="per tools/call timeout")
    long_call_margin_s: float = Field(default=15.0, ge=0, description="added to a tool's own timeout_s argument")
    locate_timeout_s: float = Field(default=2.0, gt=0, description="asking nodes who owns an entity")
    max_output_bytes: int = Field(default=1 << 20, gt=0, description="largest tool result forwarded")
    rate_per_s: float = Field(default=50.0, gt=0, description="tools/call per second per principal")
    rate_burst: float = Field(default=200.0, ge=1, description="token bucket size per principal")
    read_retries: int = Field(default=1, ge=0, description="retries of read-only tools on connection errors")
    breaker_failures: int = Field(default=3, ge=1, description="consecutive failures that open a node's breaker")
    breaker_reset_s: float = Field(default=5.0, gt=0, description="open breaker lets one trial call after this")
    max_body_bytes: int = Field(default=4 << 20, gt=0, description="largest HTTP request body (413 above it)")
    max_json_depth: int = Field(default=64, ge=2, description="deepest nesting of [ and { in a request (JSON-RPC error above it)")
    max_json_containers: int = Field(default=100_000, ge=1, description="most JSON objects and arrays in one request")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header names accepted besides loopback and the bound address ('*' = any; shell-style patterns)",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="browser Origins accepted besides loopback and same-origin, e.g. https://ui.example.org",
    )

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under ``state_dir``."""
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'gateway.db'}"

    def replica(self) -> str:
        """This replica's id: ``replica_id``, or a stable digest of the host name and state directory."""
        if self.replica_id:
            return self.replica_id
        import hashlib
        import socket

        seed = f"{socket.gethostname()}:{self.state_dir.expanduser().resolve()}"
        return hashlib.sha256(seed.encode()).hexdigest()[:10]

    def provenance_stream(self) -> str:
        """The provenance stream of routed calls: ``gateway`` on the default SQLite, ``gateway-<replica>``
        with a database_url (replicas sharing a database each extend their own hash chain)."""
        return "gateway" if self.database_url is None else f"gateway-{self.replica()}"

    def identity_keys_path(self) -> Path:
        """The gateway's Ed25519 identity keys (private; created on first start, mode 0600)."""
        return self.state_dir / "identity-keys.json"
