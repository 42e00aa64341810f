"""What the store needs from a connection, and ``connect``: a file opened the way a bot wants."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
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
    read_only: bool = False,
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

    ``read_only=True`` opens the file with ``mode=ro`` and changes nothing in it (no
    PRAGMA but ``busy_timeout``): every write raises. On read-only media a WAL file
    whose ``-wal`` is gone (its last writer closed cleanly) cannot be opened with
    ``mode=ro``, because SQLite cannot create the ``-shm`` beside it; the file is then
    opened with ``immutable=1`` too, which reads it as it is and would not see a later
    change by another process (there can be none on read-only media). Costs one read
    of ``sqlite_master`` more, to open the file at once.
    """
    busy_timeout_ms = check_ms(
        "busy_timeout_ms", busy_timeout_ms, owner="connect", minimum=0, maximum=MAX_BUSY_TIMEOUT_MS
    )
    module = sqlite3 if driver is None else driver
    if read_only:
        return _connect_read_only(os.fspath(path), busy_timeout_ms, module)
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


_SQLITE_CANTOPEN = 14


def _connect_read_only(path: str, busy_timeout_ms: int, module: Any) -> Any:
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    try:
        return _open_read_only(uri, busy_timeout_ms, module)
    except module.OperationalError as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        cannot_open = code == _SQLITE_CANTOPEN if code is not None else "unable to open" in str(exc)
        # With a -wal file present, immutable=1 would not read it: that must fail.
        if not cannot_open or not os.path.isfile(path) or os.path.exists(f"{path}-wal"):
            raise
    return _open_read_only(f"{uri}&immutable=1", busy_timeout_ms, module)


def _open_read_only(uri: str, busy_timeout_ms: int, module: Any) -> Any:
    db = module.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        db.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the WAL
    except BaseException:
        db.close()
        raise
    return db
