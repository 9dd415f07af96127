"""Alembic environment of the gateway's tables: runs on the connection handed over in the Config
(version table ``gateway_alembic_version``, so it shares a database with the store and provenance)."""

from __future__ import annotations

from alembic import context

from mcp_gateway.migrate import VERSION_TABLE
from mcp_gateway.registry_store import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run gateway migrations through mcp_gateway.registry_store.RegistryStore.upgrade()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
