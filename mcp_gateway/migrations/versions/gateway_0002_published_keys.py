"""Published identity keys: the public half of each replica's signing keys, so every replica can
hand nodes the union (a node registered through one replica accepts identities signed by another).

Revision ID: gateway_0002
Revises: gateway_0001
Create Date: 2026-11-30 06:52:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "gateway_0002"
down_revision = "gateway_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_public_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("replica", sa.String(64), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("gateway_public_keys_replica", "gateway_public_keys", ["replica"])


def downgrade() -> None:
    op.drop_index("gateway_public_keys_replica", table_name="gateway_public_keys")
    op.drop_table("gateway_public_keys")
