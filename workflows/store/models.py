"""ORM models of the testbed store (SQLAlchemy 2 declarative, own MetaData).

These classes stay inside ``workflows.store``; everything outside sees the pydantic records of
:mod:`workflows.store.records`. References between tables (namespace, execution_id,
run_number) are plain columns, not foreign keys: rows arrive from many agents in any order,
and pruning removes dependants explicitly (:mod:`workflows.store.pruning`).

Every time column is :class:`~workflows.store.timestamps.UTCDateTime`. The indexes follow the
queries of the node's tools: lists are newest first with keyset pagination on
``(time, id)``, so each filter column has a ``(filter, time, id)`` index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from workflows.store.timestamps import UTCDateTime

VERSION_TABLE = "controlroom_store_version"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RowId = BigInteger().with_variant(Integer(), "sqlite")  # an INTEGER PRIMARY KEY is SQLite's rowid
Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Base of the store's ORM models; its ``metadata`` is the store's alone.

    Example::

        class Thing(Base):
            __tablename__ = "things"
            id: Mapped[int] = mapped_column(RowId, primary_key=True)
    """

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: Json, list[Any]: Json}


class NamespaceRow(Base):
    __tablename__ = "namespaces"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class DefinitionRow(Base):
    """A workflow definition; ``namespace`` is "" for the built-ins, else the namespace that registered it.

    ``files`` holds a generated workflow's files (relative name -> text: configs, agents.toml,
    module, stage scripts), so the node can write them back after a restart.
    """

    __tablename__ = "workflow_definitions"
    __table_args__ = (UniqueConstraint("namespace", "name", "version"), Index(None, "created_at", "id"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64), default="", server_default="")
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    source_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    parameter_schema: Mapped[dict[str, Any]]
    description: Mapped[str | None] = mapped_column(Text)
    files: Mapped[dict[str, Any] | None]
    registered_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class ExecutionRow(Base):
    __tablename__ = "workflow_executions"
    __table_args__ = (
        Index(None, "start_time", "execution_id"),
        Index(None, "namespace", "start_time", "execution_id"),
        Index(None, "status", "start_time", "execution_id"),
        Index(None, "executed_by", "start_time", "execution_id"),
        Index(None, "workflow_name", "start_time", "execution_id"),
    )

    execution_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    workflow_name: Mapped[str] = mapped_column(String(128))
    definition_version: Mapped[str | None] = mapped_column(String(64))
    namespace: Mapped[str] = mapped_column(String(64))
    executed_by: Mapped[str] = mapped_column(String(128))
    config: Mapped[dict[str, Any]]
    config_hash: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str | None] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]]
    realtime: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str | None] = mapped_column(String(64))
    run_number: Mapped[int | None] = mapped_column(Integer)
    stf_count: Mapped[int] = mapped_column(Integer, default=0)
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    node: Mapped[str | None] = mapped_column(String(128))


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (Index(None, "namespace", "run_number"), Index(None, "execution_id"))

    run_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    namespace: Mapped[str] = mapped_column(String(64))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32))
    substate: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    total_stf_files: Mapped[int | None] = mapped_column(Integer)


class StfFileRow(Base):
    __tablename__ = "stf_files"
    __table_args__ = (
        Index(None, "namespace", "created_at", "id"),
        Index(None, "execution_id", "created_at", "id"),
        Index(None, "run_number", "sequence"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(255), unique=True)
    namespace: Mapped[str] = mapped_column(String(64))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    run_number: Mapped[int | None] = mapped_column(Integer)
    sequence: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TfSampleRow(Base):
    __tablename__ = "tf_samples"
    __table_args__ = (
        Index(None, "namespace", "created_at", "id"),
        Index(None, "execution_id", "created_at", "id"),
        Index(None, "run_number"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    tf_filename: Mapped[str] = mapped_column(String(255), unique=True)
    stf_filename: Mapped[str] = mapped_column(String(255))
    namespace: Mapped[str] = mapped_column(String(64))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    run_number: Mapped[int | None] = mapped_column(Integer)
    tf_first: Mapped[int] = mapped_column(Integer)
    tf_last: Mapped[int] = mapped_column(Integer)
    tf_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class SliceRow(Base):
    __tablename__ = "tf_slices"
    __table_args__ = (
        UniqueConstraint("tf_filename", "slice_id"),
        Index(None, "namespace", "requested_at", "id"),
        Index(None, "execution_id", "status"),
        Index(None, "run_number"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    run_number: Mapped[int | None] = mapped_column(Integer)
    tf_filename: Mapped[str] = mapped_column(String(255))
    slice_id: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    tf_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    retries: Mapped[int] = mapped_column(Integer, default=0)
    assigned_worker: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    processing_start_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]


class WorkerRow(Base):
    __tablename__ = "workers"
    __table_args__ = (Index(None, "namespace", "started_at", "name"), Index(None, "execution_id"))

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    hostname: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    slices_done: Mapped[int] = mapped_column(Integer, default=0)
    slices_failed: Mapped[int] = mapped_column(Integer, default=0)


class RunStateRow(Base):
    __tablename__ = "run_states"
    __table_args__ = (Index(None, "namespace"),)

    run_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    namespace: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str | None] = mapped_column(String(64))
    workers_active: Mapped[int] = mapped_column(Integer, default=0)
    workers_target: Mapped[int] = mapped_column(Integer, default=0)
    slices_queued: Mapped[int] = mapped_column(Integer, default=0)
    slices_processing: Mapped[int] = mapped_column(Integer, default=0)
    slices_done: Mapped[int] = mapped_column(Integer, default=0)
    slices_failed: Mapped[int] = mapped_column(Integer, default=0)
    latency_p50_ms: Mapped[float | None] = mapped_column(Float)
    latency_p99_ms: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime]


class StateEventRow(Base):
    __tablename__ = "system_state_events"
    __table_args__ = (
        Index(None, "timestamp", "id"),
        Index(None, "namespace", "timestamp", "id"),
        Index(None, "execution_id", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    run_number: Mapped[int | None] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    substate: Mapped[str | None] = mapped_column(String(32))
    timestamp: Mapped[datetime]
    simulation_tick: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any]]


class MessageRow(Base):
    __tablename__ = "workflow_messages"
    __table_args__ = (
        Index(None, "created_at", "id"),
        Index(None, "namespace", "created_at", "id"),
        Index(None, "execution_id", "created_at", "id"),
        Index(None, "sender", "created_at", "id"),
        Index(None, "msg_type", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    run_number: Mapped[int | None] = mapped_column(Integer)
    msg_type: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str | None] = mapped_column(String(255))
    destination: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class LogRow(Base):
    __tablename__ = "app_logs"
    # (filter, created_at, id) gives each filtered list newest first; the trailing level lets
    # a min_level threshold be checked inside the index, before any row is read. No
    # (level, created_at) index: a level range cannot yield newest first without a sort.
    __table_args__ = (
        Index(None, "created_at", "id", "level"),
        Index(None, "namespace", "created_at", "id", "level"),
        Index(None, "agent", "created_at", "id", "level"),
        Index(None, "execution_id", "created_at", "id", "level"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    namespace: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(255))
    instance: Mapped[str | None] = mapped_column(String(255))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    level: Mapped[int] = mapped_column(Integer)
    levelname: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    extra: Mapped[dict[str, Any] | None]


class AgentRow(Base):
    __tablename__ = "system_agents"
    __table_args__ = (
        Index(None, "namespace", "started_at", "name"),
        Index(None, "status", "last_heartbeat"),
        Index(None, "execution_id"),
    )

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64))
    agent_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    pid: Mapped[int | None] = mapped_column(Integer)
    hostname: Mapped[str | None] = mapped_column(String(255))
    mode: Mapped[str] = mapped_column(String(16))
    execution_id: Mapped[str | None] = mapped_column(String(255))
    last_heartbeat: Mapped[datetime]
    started_at: Mapped[datetime]
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text)


class TestbedRow(Base):
    __tablename__ = "testbeds"
    __test__ = False  # not a pytest class

    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    config_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    node: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    started_by: Mapped[str | None] = mapped_column(String(128))
    agents: Mapped[dict[str, Any]]


class CounterRow(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
