"""Errors of the storage layer.

StoreError                 base of everything below
├── StoreUnavailable       the backend cannot be reached or refused a request as a whole
│                          (writes then go to the local spool; reads fail)
├── ConflictError          optimistic-concurrency check failed; carries the current version
├── NotFound               no record with that id
└── InvalidRecord          input that does not make a valid record; names the field (and
                           the line, for files)
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of all storage-layer errors."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or rejected a whole request."""


class ConflictError(StoreError):
    def __init__(self, kind: str, id: str, current_version: int | None) -> None:
        super().__init__(
            f"{kind} {id!r} was changed by someone else (current version {current_version})"
        )
        self.kind = kind
        self.id = id
        self.current_version = current_version


class NotFound(StoreError):
    def __init__(self, kind: str, id: str) -> None:
        super().__init__(f"no {kind} with id {id!r}")
        self.kind = kind
        self.id = id


class InvalidRecord(StoreError):
    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field:
            where.append(f"field '{field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
        self.field = field
        self.line = line
