"""The error this package adds to the core tree (``puregram.storage._errors``)::

    StorageError
     └── SchemaError (also a ValueError)   the table exists with another schema

Everything else is the core's (``CorruptValueError``, ``ForeignValueError``,
``LeaseLostError``) or asyncpg's own (``asyncpg.PostgresError`` and its subclasses,
``OSError`` for a refused connection).
"""

from __future__ import annotations

from puregram.storage import StorageError

__all__ = ["SchemaError"]


class SchemaError(StorageError, ValueError):
    """The table named by ``table`` exists, but not with the schema the store reads and
    writes. Raised by the first operation (or ``open``); nothing was changed."""

    table: str

    def __init__(self, table: str, reason: str) -> None:
        super().__init__(
            f"table {table!r} cannot be used by PostgresStorage: {reason}; the store needs "
            '(key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL, expires_at BIGINT)'
        )
        self.table = table
