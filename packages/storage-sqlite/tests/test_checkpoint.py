"""The checkpointer thread of stores made by ``open``: the WAL is copied back into the
database off the event loop, and ``close`` stops the thread."""

from __future__ import annotations

import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

from puregram.storage_sqlite import SqliteStorage, connect
from puregram.storage_sqlite._checkpoint import POKE_EVERY, STORE_AUTOCHECKPOINT

pytestmark = pytest.mark.anyio

NAME = "puregram.storage_sqlite checkpointer"


def checkpointers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == NAME]


async def test_the_thread_checkpoints_the_wal_and_stops_at_close(
    tmp_path: Path, driver: ModuleType
) -> None:
    path = tmp_path / "kv.db"
    before = len(checkpointers())
    store: SqliteStorage[str] = SqliteStorage.open(path, driver=driver)
    assert len(checkpointers()) == before + 1
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (STORE_AUTOCHECKPOINT,)
    size = path.stat().st_size
    writes = POKE_EVERY + 16  # one poke; about 600 WAL pages, fewer than 1,000
    for index in range(writes):
        await store.set(f"k{index}", "x" * 1_000)
    # The store's own connection checkpoints only at STORE_AUTOCHECKPOINT pages: the
    # database file grows because the thread copied the WAL into it.
    for _ in range(1_000):  # at most 10 s
        if path.stat().st_size >= size + 200 * 1_000:
            break
        await anyio.sleep(0.01)
    assert path.stat().st_size >= size + 200 * 1_000
    await store.close()
    assert len(checkpointers()) == before
    await store.close()  # safe twice
    db = connect(path, driver=driver)
    assert db.execute("SELECT count(*) FROM puregram_kv").fetchone() == (writes,)
    db.close()


async def test_the_wal_stays_small_under_steady_writes(tmp_path: Path) -> None:
    """25 MiB written with no pause: the WAL still starts over, so its file stays a few
    MiB (a passive checkpoint from the thread alone never lets a busy WAL restart; with
    the limit at 10,000 pages it reached 40 MiB)."""
    path = tmp_path / "kv.db"
    store: SqliteStorage[str] = SqliteStorage.open(path)
    page = store._db.execute("PRAGMA page_size").fetchone()[0]
    wal = tmp_path / "kv.db-wal"
    largest = 0
    for index in range(8_000):
        await store.set(f"k{index % 500}", "x" * 3_000)
        if index % 100 == 0:
            largest = max(largest, wal.stat().st_size)
    largest = max(largest, wal.stat().st_size)
    await store.close()
    assert largest <= 2 * 1_000 * page, f"the WAL grew to {largest / 2**20:.1f} MiB"


async def test_a_store_of_your_connection_or_read_only_has_no_thread(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    before = len(checkpointers())
    db = connect(path)
    mine: SqliteStorage[Any] = SqliteStorage(db=db)
    await mine.set("k", 1)
    reader: SqliteStorage[Any] = SqliteStorage.open(path, read_only=True)
    memory: SqliteStorage[Any] = SqliteStorage.open(":memory:")
    assert len(checkpointers()) == before
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone() == (1_000,)  # yours, as it was
    assert await reader.get("k") == 1
    for store in (mine, reader, memory):
        await store.close()
    db.close()
