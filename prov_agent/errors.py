"""Errors of the provenance library.

    ProvError
    ├── InvalidProvInput   bad input from a caller (names the field and the fix)
    ├── WriterClosed       a record was offered to a writer that is closed
    ├── StoreError         the database refused or failed (SQLAlchemy errors never leave the store)
    │   └── ChainConflict  another writer appended to the same stream at the same seq
    └── ExportError        a scope or format that cannot be exported (names it and the choices)
"""

from __future__ import annotations


class ProvError(Exception):
    """Root of the provenance library's errors."""


class InvalidProvInput(ProvError):
    """A caller passed something the provenance model cannot take."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}; {fix}")


class WriterClosed(ProvError):
    """The writer was closed; records offered after close() would be lost, so they are refused."""


class StoreError(ProvError):
    """The provenance store could not do what was asked."""


class ChainConflict(StoreError):
    """Two writers tried to extend the same stream at the same position."""


class ExportError(ProvError):
    """An export could not be produced."""
