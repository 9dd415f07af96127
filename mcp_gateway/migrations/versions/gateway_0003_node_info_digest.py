"""gateway_nodes.info_sha256: a digest of the node's info (tools, namespaces, url), so replicas
reloading the registry every heartbeat period re-read and re-parse a node's info only when it
changed (rows written before this revision have none and are read in full once).

Revision ID: gateway_0003
Revises: gateway_0002
Create Date: 2026-11-30 06:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "gateway_0003"
down_revision = "gateway_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gateway_nodes", sa.Column("info_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gateway_nodes") as batch:
        batch.drop_column("info_sha256")
