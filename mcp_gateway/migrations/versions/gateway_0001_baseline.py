"""Baseline: the node registry and the token table, as the gateway created them before migrations.

A database made by the old ``create_all`` is stamped at this revision instead of running it
(`mcp_gateway.migrate.upgrade_schema`).

Revision ID: gateway_0001
Revises: (none)
Create Date: 2026-11-30 06:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "gateway_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_nodes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("health", sa.String(8), nullable=False),
        sa.Column("load", sa.Float(), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("down_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "gateway_tokens",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("principal", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_tokens")
    op.drop_table("gateway_nodes")
