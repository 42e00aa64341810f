"""WAL checkpoints off the event loop, for the stores ``SqliteStorage.open`` makes.

In WAL mode a commit appends pages to the ``-wal`` file and costs no ``fsync``; copying
them back into the database (a checkpoint) writes and syncs both files. SQLite runs one
inside whichever commit makes the WAL reach 1,000 pages, so that one statement holds
its thread, the event loop's, for 10 to 20 ms on an ordinary disk, about every 300
writes. Here a thread of its own with a connection of its own runs
``PRAGMA wal_checkpoint(PASSIVE)`` (which never waits for a lock, and never blocks a
writer) each time the store has run ``POKE_EVERY`` statements, so that the checkpoint
the store connection still runs when the WAL reaches ``STORE_AUTOCHECKPOINT`` pages
finds almost every page copied already (see there). The store's statements stay on the
loop's thread; only the copying moves.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from typing import Any

__all__ = ["POKE_EVERY", "STORE_AUTOCHECKPOINT", "Checkpointer"]

logger = logging.getLogger("puregram.storage_sqlite")

POKE_EVERY = 256
"""Statements of the store between two wake-ups of the checkpointer."""

STORE_AUTOCHECKPOINT = 1_000
"""The store connection's ``wal_autocheckpoint`` (pages), SQLite's default, set so that
it holds whatever the driver was built with.

It is not only a safety net. Under steady writes a passive checkpoint from another
connection copies back the frames the WAL held when it began, never those appended
meanwhile, so the WAL is never found fully copied at the start of a write and never
starts over: it grows until the store's own connection checkpoints, in the loop's
thread. That checkpoint costs in proportion to the WAL's length even when the thread
has copied nearly all of it (measured: 14 ms at 10,000 pages, 4 ms at 1,000, 2 ms at
300), so the limit stays low: a few milliseconds now and then, and a WAL file that stays
about 4 MiB."""


class Checkpointer:
    """A daemon thread that checkpoints the WAL of ``path`` when poked, until ``close``.

    Its connection is opened here, on the caller's thread, with ``mode=rw`` (it never
    creates a file: a path deleted meanwhile raises instead) and is used only by the
    thread. A failed checkpoint is logged on ``puregram.storage_sqlite`` at debug level
    and tried again at the next poke."""

    __slots__ = ("_closed", "_db", "_thread", "_wake")

    def __init__(self, path: str, module: Any) -> None:
        uri = f"file:{urllib.parse.quote(path)}?mode=rw"
        self._db = module.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="puregram.storage_sqlite checkpointer", daemon=True
        )
        self._thread.start()

    def poke(self) -> None:
        """Ask for a checkpoint soon (returns at once)."""
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (after the checkpoint it may be running) and close its
        connection. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        db, wake = self._db, self._wake
        try:
            while True:
                wake.wait()
                wake.clear()
                if self._closed:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except Exception:  # the next poke tries again
                    logger.debug("background WAL checkpoint failed", exc_info=True)
        finally:
            db.close()
