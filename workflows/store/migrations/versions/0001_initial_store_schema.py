"""Initial store schema: every table of the testbed store (reviewed autogenerate output).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 12:05:13.454667
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Types spelled out here, not imported from models.py: a migration must not change when the models do.
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_logs',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=True),
    sa.Column('agent', sa.String(length=255), nullable=False),
    sa.Column('instance', sa.String(length=255), nullable=True),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('levelname', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('extra', JSON, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_logs'))
    )
    op.create_index(op.f('ix_app_logs_agent_created_at_id_level'), 'app_logs', ['agent', 'created_at', 'id', 'level'], unique=False)
    op.create_index(op.f('ix_app_logs_created_at_id_level'), 'app_logs', ['created_at', 'id', 'level'], unique=False)
    op.create_index(op.f('ix_app_logs_execution_id_created_at_id_level'), 'app_logs', ['execution_id', 'created_at', 'id', 'level'], unique=False)
    op.create_index(op.f('ix_app_logs_namespace_created_at_id_level'), 'app_logs', ['namespace', 'created_at', 'id', 'level'], unique=False)

    op.create_table('counters',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    op.create_table('namespaces',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_namespaces'))
    )
    op.create_table('run_states',
    sa.Column('run_number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('phase', sa.String(length=64), nullable=True),
    sa.Column('workers_active', sa.Integer(), nullable=False),
    sa.Column('workers_target', sa.Integer(), nullable=False),
    sa.Column('slices_queued', sa.Integer(), nullable=False),
    sa.Column('slices_processing', sa.Integer(), nullable=False),
    sa.Column('slices_done', sa.Integer(), nullable=False),
    sa.Column('slices_failed', sa.Integer(), nullable=False),
    sa.Column('latency_p50_ms', sa.Float(), nullable=True),
    sa.Column('latency_p99_ms', sa.Float(), nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('run_number', name=op.f('pk_run_states'))
    )
    op.create_index(op.f('ix_run_states_namespace'), 'run_states', ['namespace'], unique=False)

    op.create_table('runs',
    sa.Column('run_number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('substate', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('start_time', TIMESTAMP, nullable=False),
    sa.Column('end_time', TIMESTAMP, nullable=True),
    sa.Column('total_stf_files', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('run_number', name=op.f('pk_runs'))
    )
    op.create_index(op.f('ix_runs_execution_id'), 'runs', ['execution_id'], unique=False)
    op.create_index(op.f('ix_runs_namespace_run_number'), 'runs', ['namespace', 'run_number'], unique=False)

    op.create_table('stf_files',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('run_number', sa.Integer(), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('checksum', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stf_files')),
    sa.UniqueConstraint('filename', name=op.f('uq_stf_files_filename'))
    )
    op.create_index(op.f('ix_stf_files_execution_id_created_at_id'), 'stf_files', ['execution_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_stf_files_namespace_created_at_id'), 'stf_files', ['namespace', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_stf_files_run_number_sequence'), 'stf_files', ['run_number', 'sequence'], unique=False)

    op.create_table('system_agents',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('agent_type', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('hostname', sa.String(length=255), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('last_heartbeat', TIMESTAMP, nullable=False),
    sa.Column('started_at', TIMESTAMP, nullable=False),
    sa.Column('restarts', sa.Integer(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_system_agents'))
    )
    op.create_index(op.f('ix_system_agents_execution_id'), 'system_agents', ['execution_id'], unique=False)
    op.create_index(op.f('ix_system_agents_namespace_started_at_name'), 'system_agents', ['namespace', 'started_at', 'name'], unique=False)
    op.create_index(op.f('ix_system_agents_status_last_heartbeat'), 'system_agents', ['status', 'last_heartbeat'], unique=False)

    op.create_table('system_state_events',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('run_number', sa.Integer(), nullable=True),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('substate', sa.String(length=32), nullable=True),
    sa.Column('timestamp', TIMESTAMP, nullable=False),
    sa.Column('simulation_tick', sa.Float(), nullable=True),
    sa.Column('data', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_system_state_events'))
    )
    op.create_index(op.f('ix_system_state_events_execution_id_timestamp_id'), 'system_state_events', ['execution_id', 'timestamp', 'id'], unique=False)
    op.create_index(op.f('ix_system_state_events_namespace_timestamp_id'), 'system_state_events', ['namespace', 'timestamp', 'id'], unique=False)
    op.create_index(op.f('ix_system_state_events_timestamp_id'), 'system_state_events', ['timestamp', 'id'], unique=False)

    op.create_table('testbeds',
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('config_name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('node', sa.String(length=128), nullable=True),
    sa.Column('started_at', TIMESTAMP, nullable=False),
    sa.Column('stopped_at', TIMESTAMP, nullable=True),
    sa.Column('started_by', sa.String(length=128), nullable=True),
    sa.Column('agents', JSON, nullable=False),
    sa.PrimaryKeyConstraint('namespace', name=op.f('pk_testbeds'))
    )
    op.create_table('tf_samples',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('tf_filename', sa.String(length=255), nullable=False),
    sa.Column('stf_filename', sa.String(length=255), nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('run_number', sa.Integer(), nullable=True),
    sa.Column('tf_first', sa.Integer(), nullable=False),
    sa.Column('tf_last', sa.Integer(), nullable=False),
    sa.Column('tf_count', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tf_samples')),
    sa.UniqueConstraint('tf_filename', name=op.f('uq_tf_samples_tf_filename'))
    )
    op.create_index(op.f('ix_tf_samples_execution_id_created_at_id'), 'tf_samples', ['execution_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_tf_samples_namespace_created_at_id'), 'tf_samples', ['namespace', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_tf_samples_run_number'), 'tf_samples', ['run_number'], unique=False)

    op.create_table('tf_slices',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('run_number', sa.Integer(), nullable=True),
    sa.Column('tf_filename', sa.String(length=255), nullable=False),
    sa.Column('slice_id', sa.Integer(), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('tf_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('assigned_worker', sa.String(length=255), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_at', TIMESTAMP, nullable=False),
    sa.Column('processing_start_at', TIMESTAMP, nullable=True),
    sa.Column('processed_at', TIMESTAMP, nullable=True),
    sa.Column('result', JSON, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tf_slices')),
    sa.UniqueConstraint('tf_filename', 'slice_id', name=op.f('uq_tf_slices_tf_filename_slice_id'))
    )
    op.create_index(op.f('ix_tf_slices_execution_id_status'), 'tf_slices', ['execution_id', 'status'], unique=False)
    op.create_index(op.f('ix_tf_slices_namespace_requested_at_id'), 'tf_slices', ['namespace', 'requested_at', 'id'], unique=False)
    op.create_index(op.f('ix_tf_slices_run_number'), 'tf_slices', ['run_number'], unique=False)

    op.create_table('workers',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=True),
    sa.Column('started_at', TIMESTAMP, nullable=False),
    sa.Column('stopped_at', TIMESTAMP, nullable=True),
    sa.Column('slices_done', sa.Integer(), nullable=False),
    sa.Column('slices_failed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_workers'))
    )
    op.create_index(op.f('ix_workers_execution_id'), 'workers', ['execution_id'], unique=False)
    op.create_index(op.f('ix_workers_namespace_started_at_name'), 'workers', ['namespace', 'started_at', 'name'], unique=False)

    op.create_table('workflow_definitions',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('source_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('parameter_schema', JSON, nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_definitions')),
    sa.UniqueConstraint('name', 'version', name=op.f('uq_workflow_definitions_name_version'))
    )
    op.create_index(op.f('ix_workflow_definitions_created_at_id'), 'workflow_definitions', ['created_at', 'id'], unique=False)

    op.create_table('workflow_executions',
    sa.Column('execution_id', sa.String(length=255), nullable=False),
    sa.Column('workflow_name', sa.String(length=128), nullable=False),
    sa.Column('definition_version', sa.String(length=64), nullable=True),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('executed_by', sa.String(length=128), nullable=False),
    sa.Column('config', JSON, nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('code_version', sa.String(length=64), nullable=True),
    sa.Column('parameters', JSON, nullable=False),
    sa.Column('realtime', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('phase', sa.String(length=64), nullable=True),
    sa.Column('run_number', sa.Integer(), nullable=True),
    sa.Column('stf_count', sa.Integer(), nullable=False),
    sa.Column('start_time', TIMESTAMP, nullable=False),
    sa.Column('end_time', TIMESTAMP, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('node', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('execution_id', name=op.f('pk_workflow_executions'))
    )
    op.create_index(op.f('ix_workflow_executions_executed_by_start_time_execution_id'), 'workflow_executions', ['executed_by', 'start_time', 'execution_id'], unique=False)
    op.create_index(op.f('ix_workflow_executions_namespace_start_time_execution_id'), 'workflow_executions', ['namespace', 'start_time', 'execution_id'], unique=False)
    op.create_index(op.f('ix_workflow_executions_start_time_execution_id'), 'workflow_executions', ['start_time', 'execution_id'], unique=False)
    op.create_index(op.f('ix_workflow_executions_status_start_time_execution_id'), 'workflow_executions', ['status', 'start_time', 'execution_id'], unique=False)
    op.create_index(op.f('ix_workflow_executions_workflow_name_start_time_execution_id'), 'workflow_executions', ['workflow_name', 'start_time', 'execution_id'], unique=False)

    op.create_table('workflow_messages',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=True),
    sa.Column('run_number', sa.Integer(), nullable=True),
    sa.Column('msg_type', sa.String(length=64), nullable=False),
    sa.Column('sender', sa.String(length=255), nullable=True),
    sa.Column('destination', sa.String(length=255), nullable=True),
    sa.Column('body', JSON, nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_messages'))
    )
    op.create_index(op.f('ix_workflow_messages_created_at_id'), 'workflow_messages', ['created_at', 'id'], unique=False)
    op.create_index(op.f('ix_workflow_messages_execution_id_created_at_id'), 'workflow_messages', ['execution_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_workflow_messages_msg_type_created_at_id'), 'workflow_messages', ['msg_type', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_workflow_messages_namespace_created_at_id'), 'workflow_messages', ['namespace', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_workflow_messages_sender_created_at_id'), 'workflow_messages', ['sender', 'created_at', 'id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_workflow_messages_sender_created_at_id'), table_name='workflow_messages')
    op.drop_index(op.f('ix_workflow_messages_namespace_created_at_id'), table_name='workflow_messages')
    op.drop_index(op.f('ix_workflow_messages_msg_type_created_at_id'), table_name='workflow_messages')
    op.drop_index(op.f('ix_workflow_messages_execution_id_created_at_id'), table_name='workflow_messages')
    op.drop_index(op.f('ix_workflow_messages_created_at_id'), table_name='workflow_messages')

    op.drop_table('workflow_messages')
    op.drop_index(op.f('ix_workflow_executions_workflow_name_start_time_execution_id'), table_name='workflow_executions')
    op.drop_index(op.f('ix_workflow_executions_status_start_time_execution_id'), table_name='workflow_executions')
    op.drop_index(op.f('ix_workflow_executions_start_time_execution_id'), table_name='workflow_executions')
    op.drop_index(op.f('ix_workflow_executions_namespace_start_time_execution_id'), table_name='workflow_executions')
    op.drop_index(op.f('ix_workflow_executions_executed_by_start_time_execution_id'), table_name='workflow_executions')

    op.drop_table('workflow_executions')
    op.drop_index(op.f('ix_workflow_definitions_created_at_id'), table_name='workflow_definitions')

    op.drop_table('workflow_definitions')
    op.drop_index(op.f('ix_workers_namespace_started_at_name'), table_name='workers')
    op.drop_index(op.f('ix_workers_execution_id'), table_name='workers')

    op.drop_table('workers')
    op.drop_index(op.f('ix_tf_slices_run_number'), table_name='tf_slices')
    op.drop_index(op.f('ix_tf_slices_namespace_requested_at_id'), table_name='tf_slices')
    op.drop_index(op.f('ix_tf_slices_execution_id_status'), table_name='tf_slices')

    op.drop_table('tf_slices')
    op.drop_index(op.f('ix_tf_samples_run_number'), table_name='tf_samples')
    op.drop_index(op.f('ix_tf_samples_namespace_created_at_id'), table_name='tf_samples')
    op.drop_index(op.f('ix_tf_samples_execution_id_created_at_id'), table_name='tf_samples')

    op.drop_table('tf_samples')
    op.drop_table('testbeds')
    op.drop_index(op.f('ix_system_state_events_timestamp_id'), table_name='system_state_events')
    op.drop_index(op.f('ix_system_state_events_namespace_timestamp_id'), table_name='system_state_events')
    op.drop_index(op.f('ix_system_state_events_execution_id_timestamp_id'), table_name='system_state_events')

    op.drop_table('system_state_events')
    op.drop_index(op.f('ix_system_agents_status_last_heartbeat'), table_name='system_agents')
    op.drop_index(op.f('ix_system_agents_namespace_started_at_name'), table_name='system_agents')
    op.drop_index(op.f('ix_system_agents_execution_id'), table_name='system_agents')

    op.drop_table('system_agents')
    op.drop_index(op.f('ix_stf_files_run_number_sequence'), table_name='stf_files')
    op.drop_index(op.f('ix_stf_files_namespace_created_at_id'), table_name='stf_files')
    op.drop_index(op.f('ix_stf_files_execution_id_created_at_id'), table_name='stf_files')

    op.drop_table('stf_files')
    op.drop_index(op.f('ix_runs_namespace_run_number'), table_name='runs')
    op.drop_index(op.f('ix_runs_execution_id'), table_name='runs')

    op.drop_table('runs')
    op.drop_index(op.f('ix_run_states_namespace'), table_name='run_states')

    op.drop_table('run_states')
    op.drop_table('namespaces')
    op.drop_table('counters')
    op.drop_index(op.f('ix_app_logs_namespace_created_at_id_level'), table_name='app_logs')
    op.drop_index(op.f('ix_app_logs_execution_id_created_at_id_level'), table_name='app_logs')
    op.drop_index(op.f('ix_app_logs_created_at_id_level'), table_name='app_logs')
    op.drop_index(op.f('ix_app_logs_agent_created_at_id_level'), table_name='app_logs')

    op.drop_table('app_logs')
