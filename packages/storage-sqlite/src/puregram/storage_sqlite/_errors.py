"""The errors this package adds to the core tree (``puregram.storage._errors``)::

    StorageError
     ├── SchemaError (also a ValueError)   the table exists with another schema
     └── DatabaseMovedError                the file was deleted or replaced under the store

Everything else is the core's (``CorruptValueError``, ``ForeignValueError``,
``LeaseLostError``) or the driver's own (``OperationalError``: locked, read-only, full).
"""

from __future__ import annotations

from puregram.storage import StorageError, describe_key

__all__ = ["DatabaseMovedError", "SchemaError"]


class SchemaError(StorageError, ValueError):
    """The table named by ``table`` exists, but not with the schema the store (and the
    TypeScript package) reads and writes. Raised at construction; nothing was changed."""

    table: str

    def __init__(self, table: str, reason: str) -> None:
        super().__init__(
            f"table {table!r} cannot be used by SqliteStorage: {reason}; the store needs "
            "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)"
        )
        self.table = table


class DatabaseMovedError(StorageError):
    """The database file the store opened was deleted, renamed or replaced since: a write
    would go to a file no one can open again, so it is refused and nothing is written.
    ``.path`` is the file's path; ``.key`` the key of the refused write (or ``None``)."""

    path: str

    def __init__(self, path: str, reason: str, key: str | None = None) -> None:
        which = "" if key is None else f" (key {describe_key(key)})"
        super().__init__(
            f"the database file {path!r} {reason} since the store opened it, so a "
            f"write{which} would be lost; nothing was written. Open the file again.",
            key=key,
        )
        self.path = path
