"""The store's exception hierarchy; SQLAlchemy and driver errors never leave the store.

::

    StoreError                   anything the store refuses or cannot do
    ├── NotFound                 no row of that kind with that id (names both)
    ├── DefinitionConflict       same workflow name + version, different source hash
    ├── InvalidQuery             a bad argument (names the field and the fix), e.g. limit > 200
    └── StoreUnavailable         the database cannot be reached or answered with a driver error
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by ``workflows.store``."""


class NotFound(StoreError):
    """No row of ``kind`` with ``key``.

    Example: ``NotFound("execution", "stf_datataking-alice-0007")``.
    """

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} with id {key!r}")


class DefinitionConflict(StoreError):
    """A workflow definition is immutable: the same name and version with a different source."""

    def __init__(self, name: str, version: str, stored_hash: str, new_hash: str) -> None:
        self.name = name
        self.version = version
        self.stored_hash = stored_hash
        self.new_hash = new_hash
        super().__init__(
            f"workflow definition {name!r} version {version!r} is already registered with source "
            f"hash {stored_hash}; the new source hashes to {new_hash}. Definitions are immutable: "
            f"bump the version to register changed source."
        )


class InvalidQuery(StoreError, ValueError):
    """A bad argument to a store method; the message names the field and the fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class StoreUnavailable(StoreError):
    """The database is unreachable or failed; wraps the SQLAlchemy / driver error as ``__cause__``."""
