"""Definitions belong to a namespace: workflow_definitions gains namespace, files and registered_by.

``namespace`` is "" for the built-in definitions (the rows every existing store holds) and the
registering namespace for a generated workflow; the unique key becomes (namespace, name,
version), so two namespaces may each register a workflow of the same name. ``files`` keeps a
generated workflow's files (name -> text) so a node restart can write them back.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 06:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Types spelled out here, not imported from models.py: a migration must not change when the models do.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('workflow_definitions') as batch:
        batch.add_column(sa.Column('namespace', sa.String(length=64), server_default='', nullable=False))
        batch.add_column(sa.Column('files', JSON, nullable=True))
        batch.add_column(sa.Column('registered_by', sa.String(length=128), nullable=True))
        batch.drop_constraint(op.f('uq_workflow_definitions_name_version'), type_='unique')
        batch.create_unique_constraint(op.f('uq_workflow_definitions_namespace_name_version'),
                                       ['namespace', 'name', 'version'])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM workflow_definitions WHERE namespace <> ''"))
    with op.batch_alter_table('workflow_definitions') as batch:
        batch.drop_constraint(op.f('uq_workflow_definitions_namespace_name_version'), type_='unique')
        batch.create_unique_constraint(op.f('uq_workflow_definitions_name_version'), ['name', 'version'])
        batch.drop_column('registered_by')
        batch.drop_column('files')
        batch.drop_column('namespace')
