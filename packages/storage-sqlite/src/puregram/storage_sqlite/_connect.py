"""What the store needs from a connection, and ``connect``: a file opened the way a bot wants."""

from __future__ import annotations

import os
import sqlite3
from typing import Any, Protocol

from puregram.storage import check_ms

__all__ = ["MAX_BUSY_TIMEOUT_MS", "Connection", "connect"]

MAX_BUSY_TIMEOUT_MS = 2**31 - 1
"""SQLite keeps the busy timeout in a C ``int`` of milliseconds (about 24.8 days)."""


class Connection(Protocol):
    """The part of a DB-API connection the store uses: ``sqlite3.Connection`` and
    ``pysqlite3.dbapi2.Connection`` both fit."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


def connect(
    path: str | os.PathLike[str],
    *,
    busy_timeout_ms: int = 5_000,
    driver: Any = None,
) -> Any:
    """Open ``path`` with the settings this package documents for a bot, and return the
    connection.

    - ``isolation_level=None``: every statement commits on its own; no implicit ``BEGIN``.
    - ``PRAGMA journal_mode=WAL``: readers never block the writer, nor the writer readers;
      several processes can share the file.
    - ``PRAGMA synchronous=NORMAL``: a commit survives a crash of the process; a power cut
      may undo the last commits (never corrupt the file). Run ``PRAGMA synchronous=FULL``
      on the connection when that matters more than write speed.
    - ``busy_timeout_ms``: how long a statement waits for another process's write lock
      before raising ``OperationalError: database is locked``. The wait blocks the calling
      thread, and so the event loop.

    ``driver`` is the DB-API module: ``sqlite3`` (the default) or ``pysqlite3.dbapi2``.
    Costs three PRAGMA statements. Raises the driver's ``OperationalError`` when the file
    cannot be opened.
    """
    busy_timeout_ms = check_ms(
        "busy_timeout_ms", busy_timeout_ms, owner="connect", minimum=0, maximum=MAX_BUSY_TIMEOUT_MS
    )
    module = sqlite3 if driver is None else driver
    db = module.connect(os.fspath(path), timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        # busy_timeout first, so that switching a fresh file to WAL waits for a writer in
        # another process instead of failing at once.
        db.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        db.execute("PRAGMA journal_mode = WAL").fetchall()
        db.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        db.close()
        raise
    return db
