"""The gateway tables' Alembic history, run from code on the gateway's connection.

Scripts in ``mcp_gateway/migrations`` (shipped in the wheel), version table
``gateway_alembic_version``: the gateway's history sits beside the store's
(``controlroom_store_version``) and provenance's (``prov_alembic_version``) on one database.
A database made by ``create_all`` before migrations (tables, no version row) is stamped at the
baseline and then upgraded. On PostgreSQL the upgrade holds a transaction-level advisory lock,
so replicas starting together upgrade one after the other.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).parent / "migrations"
VERSION_TABLE = "gateway_alembic_version"
BASELINE = "gateway_0001"
HEAD = "gateway_0003"
_LOCK_KEY = zlib.crc32(b"mcp_gateway.migrate")


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The gateway schema's revision in this database (None: never migrated)."""
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade_schema(connection: Connection, revision: str = "head") -> None:
    """Bring the gateway's tables to ``revision`` inside the connection's transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    config = _config(connection)
    if current_revision(connection) is None and inspect(connection).has_table("gateway_nodes"):
        command.stamp(config, BASELINE)
    command.upgrade(config, revision)
