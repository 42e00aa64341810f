"""The database file deleted, renamed or replaced under an open store: writes are
refused with DatabaseMovedError instead of being acknowledged and lost.

The store looks at the file (one os.stat) on a write at most once a second; the tests
move that clock by hand (``_monotonic``) instead of sleeping.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import puregram.storage_sqlite._storage as storage_module
from puregram.storage import StorageError
from puregram.storage_sqlite import DatabaseMovedError, SqliteStorage, connect

pytestmark = pytest.mark.anyio


class Monotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    fake = Monotonic()
    monkeypatch.setattr(storage_module, "_monotonic", fake)
    return fake


async def test_writes_after_the_file_was_deleted_are_refused(
    tmp_path: Path, driver: ModuleType, monotonic: Monotonic
) -> None:
    path = tmp_path / "kv.db"
    db = connect(path, driver=driver)  # WAL: SQLite itself does not notice
    store: SqliteStorage[Any] = SqliteStorage(db=db, ttl_ms=60_000)
    await store.set("k", 1)
    os.remove(path)
    # Within a second of the last look, a write is not checked: this is the window in
    # which a write can still be lost.
    await store.set("window", 1)
    monotonic.now += 1.0
    with pytest.raises(DatabaseMovedError, match="was deleted or renamed") as caught:
        await store.set("k", 2)
    assert caught.value.key == "k"
    assert caught.value.path == str(path)
    assert isinstance(caught.value, StorageError)
    # Every later write raises too, each before any SQL runs.
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    with pytest.raises(DatabaseMovedError):
        await store.delete("k")
    with pytest.raises(DatabaseMovedError):
        await store.touch("k")
    with pytest.raises(DatabaseMovedError):
        await store.get_and_touch("k")
    with pytest.raises(DatabaseMovedError):
        await store.count_hit("hits", 1_000)
    with pytest.raises(DatabaseMovedError):
        await store.sweep()
    assert statements == []
    assert await store.get("k") == 1, "reads still see what the open file holds"
    db.close()


async def test_a_file_replaced_under_the_store_is_noticed(
    tmp_path: Path, driver: ModuleType, monotonic: Monotonic
) -> None:
    path = tmp_path / "kv.db"
    db = connect(path, driver=driver)
    store: SqliteStorage[int] = SqliteStorage(db=db)
    await store.set("k", 1)
    other = tmp_path / "other.db"
    connect(other, driver=driver).close()
    os.replace(other, path)
    monotonic.now += 1.0
    with pytest.raises(DatabaseMovedError, match="was replaced by another file"):
        await store.set("k", 2)
    db.close()


async def test_a_live_file_is_looked_at_once_a_second(
    tmp_path: Path, monotonic: Monotonic, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = connect(tmp_path / "kv.db")
    store: SqliteStorage[int] = SqliteStorage(db=db)
    looks: list[object] = []
    real_stat = os.stat

    def counting_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        looks.append(path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    for index in range(100):
        await store.set(f"k{index}", index)
    assert looks == []
    monotonic.now += 1.0
    for index in range(100):
        await store.set(f"k{index}", index)
    assert len(looks) == 1
    db.close()


async def test_with_a_rollback_journal_sqlite_notices_at_once(
    tmp_path: Path, driver: ModuleType
) -> None:
    """SQLite refuses to write a moved file when it would need a rollback journal
    (SQLITE_READONLY_DBMOVED); the store reports it as the same error, at once."""
    path = tmp_path / "kv.db"
    db = driver.connect(str(path))  # rollback journal, implicit transactions
    store: SqliteStorage[int] = SqliteStorage(db=db)
    await store.set("k", 1)
    os.remove(path)
    with pytest.raises(DatabaseMovedError, match=r"deleted or renamed.*\(key 'k'\)"):
        await store.set("k", 2)
    assert not db.in_transaction
    db.close()


async def test_a_database_in_memory_has_no_file_to_watch(monotonic: Monotonic) -> None:
    db = connect(":memory:")
    store: SqliteStorage[int] = SqliteStorage(db=db)
    monotonic.now += 10.0
    await store.set("k", 1)
    assert await store.get("k") == 1
    db.close()
