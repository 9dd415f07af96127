"""The testbed store: SQLAlchemy 2 async models and repositories (SQLite | PostgreSQL).

Others use :class:`Store` and the pydantic records; SQLAlchemy stays inside this package.
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use, so importing ``workflows.store.records`` does not pull in SQLAlchemy.
_HOMES = {
    "Database": "database", "default_url": "database", "Store": "store", "open_store": "store",
    **dict.fromkeys(["DefinitionConflict", "InvalidQuery", "NotFound", "StoreError", "StoreUnavailable"], "errors"),
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'workflows.store' has no attribute {name!r}")
    module = importlib.import_module(f"workflows.store.{_HOMES.get(name, 'records')}")
    return getattr(module, name)


__all__ = [
    "AgentRecord",
    "Database",
    "DefinitionConflict",
    "DefinitionRecord",
    "ExecutionRecord",
    "InvalidQuery",
    "LogIn",
    "LogLine",
    "LogRecord",
    "MessageIn",
    "MessageRecord",
    "NamespaceRecord",
    "NotFound",
    "Page",
    "PruneReport",
    "RunRecord",
    "RunStateRecord",
    "SliceIn",
    "SliceMark",
    "SliceRecord",
    "StateEventIn",
    "StateEventRecord",
    "StfFileRecord",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TestbedRecord",
    "TfSampleRecord",
    "WorkerRecord",
    "default_url",
    "open_store",
]
