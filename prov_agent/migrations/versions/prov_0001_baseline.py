"""Baseline: the records and mentions tables as `ProvStore` created them before migrations.

A database made by the old ``create_all`` is stamped at this revision instead of running it
(`prov_agent.migrate.upgrade_schema`). The table prefix comes from the Config.

Revision ID: prov_0001
Revises: (none)
Create Date: 2026-11-30 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "prov_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    prefix = context.config.attributes["table_prefix"]
    op.create_table(
        f"{prefix}records",
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("stream", "seq", name=f"{prefix}records_stream_seq"),
    )
    op.create_index(f"{prefix}records_time", f"{prefix}records", ["time"])
    op.create_table(
        f"{prefix}mentions",
        sa.Column("element_id", sa.String(400), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
    )
    op.create_index(f"{prefix}mentions_element", f"{prefix}mentions", ["element_id"])


def downgrade() -> None:
    prefix = context.config.attributes["table_prefix"]
    op.drop_table(f"{prefix}mentions")
    op.drop_table(f"{prefix}records")
