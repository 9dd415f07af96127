"""Alembic environment of the provenance tables: runs on the connection handed over in the Config.

The table prefix (``prov_`` by default) rides in ``config.attributes["table_prefix"]``; the version
table is ``<prefix>alembic_version``, so each prefix has its own history beside other packages'.
"""

from __future__ import annotations

from alembic import context

from prov_agent.migrate import version_table

connection = context.config.attributes.get("connection")
prefix = context.config.attributes.get("table_prefix")
if connection is None or prefix is None:
    raise RuntimeError("run provenance migrations through prov_agent.store.ProvStore.create_schema()")

context.configure(
    connection=connection,
    target_metadata=None,
    version_table=version_table(prefix),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
