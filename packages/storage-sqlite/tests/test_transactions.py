"""Every write is committed when its coroutine returns, whatever the connection's
transaction settings, and the store never leaves a transaction or a lock behind.

The files here use the default rollback journal, where a leftover read transaction would
also block another connection's commit: the observer connection never waits for a lock
(timeout=0), so anything the store left open fails its next write with
'database is locked'.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

from puregram.storage_sqlite import SqliteStorage

pytestmark = pytest.mark.anyio

T = TypeVar("T")
# A variable, not an inline check, so that type checkers for 3.10 see both branches.
HAS_AUTOCOMMIT = sys.version_info >= (3, 12)


async def collect(items: AsyncIterator[T]) -> list[T]:
    """Everything an async iterator yields, as a list."""
    return [item async for item in items]


MODES: dict[str, dict[str, Any]] = {
    "implicit-transactions": {},  # isolation_level="" : the sqlite3 default
    "isolation_level-None": {"isolation_level": None},
    "autocommit-True": {"autocommit": True},
    "autocommit-False": {"autocommit": False},
}


def open_in_mode(driver: ModuleType, path: Path, mode: str) -> Any:
    options = MODES[mode]
    if "autocommit" in options:
        if not HAS_AUTOCOMMIT:
            pytest.skip("autocommit= needs Python 3.12 or newer")
        if driver.__name__ != "sqlite3":
            pytest.skip(f"{driver.__name__} has no autocommit= (Python 3.12 sqlite3 only)")
    return driver.connect(str(path), **options)


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_each_write_is_seen_by_another_connection_at_once(
    tmp_path: Path, driver: ModuleType, mode: str
) -> None:
    path = tmp_path / "kv.db"
    db = open_in_mode(driver, path, mode)
    # Same driver: two SQLite libraries in one process must not share a file.
    other = driver.connect(str(path), timeout=0, isolation_level=None)
    now = [1_700_000_000_000]
    store: SqliteStorage[Any] = SqliteStorage(db=db, ttl_ms=1_000, clock=lambda: now[0])
    other.execute("CREATE TABLE probe (n INTEGER)")

    def seen(key: str) -> tuple[Any, Any] | None:
        found = other.execute(
            "SELECT value, expires_at FROM puregram_kv WHERE key = ?", (key,)
        ).fetchone()
        return None if found is None else (json.loads(found[0]), found[1])

    def nothing_left_open() -> None:
        if MODES[mode].get("autocommit") is not False:  # there it is always True by design
            assert not db.in_transaction
        other.execute("INSERT INTO probe VALUES (1)")  # fails if the store holds a lock

    await store.set("a", {"v": 1})
    assert seen("a") == ({"v": 1}, now[0] + 1_000)
    nothing_left_open()

    now[0] += 500
    await store.touch("a")
    assert seen("a") == ({"v": 1}, now[0] + 1_000)
    nothing_left_open()

    now[0] += 500
    assert await store.get_and_touch("a") == {"v": 1}
    assert seen("a") == ({"v": 1}, now[0] + 1_000)
    nothing_left_open()

    assert await store.count_hit("c", 10_000) == (1, now[0] + 10_000)
    assert seen("c") == ({"hits": 1, "resetAt": now[0] + 10_000}, now[0] + 10_000)
    nothing_left_open()

    await store.delete("c")
    assert seen("c") is None
    nothing_left_open()

    # Reads see what another connection committed since: no stale snapshot is kept.
    other.execute("INSERT INTO puregram_kv VALUES ('b', '\"from other\"', NULL)")
    assert await store.get("b") == "from other"
    assert await collect(store.keys()) == ["a", "b"]
    assert await store.has("b")
    nothing_left_open()

    now[0] += 1_001  # past expires_at: a row is live while expires_at >= now
    assert await store.get("a") is None
    assert seen("a") is None, "the expired row's DELETE was committed"
    nothing_left_open()

    await store.set("x", 1)
    now[0] += 1_001
    assert await store.sweep() == 1
    assert seen("x") is None
    nothing_left_open()
    db.close()
    other.close()


async def test_lease_writes_are_committed_in_every_mode(
    tmp_path: Path, driver: ModuleType, mode: str
) -> None:
    """lock, save, remove and release(touch=True): each committed at once, one
    transaction each, nothing left open."""
    path = tmp_path / "kv.db"
    db = open_in_mode(driver, path, mode)
    other = driver.connect(str(path), timeout=0, isolation_level=None)
    now = [1_700_000_000_000]
    store: SqliteStorage[Any] = SqliteStorage(db=db, ttl_ms=1_000, clock=lambda: now[0])
    other.execute("CREATE TABLE probe (n INTEGER)")

    def nothing_left_open() -> None:
        if MODES[mode].get("autocommit") is not False:
            assert not db.in_transaction
        other.execute("INSERT INTO probe VALUES (1)")

    def leases() -> list[Any]:
        rows: list[Any] = other.execute('SELECT key FROM "puregram_kv:leases"').fetchall()
        return rows

    async with store.lock("k") as lease:
        assert leases() == [("k",)], "the lease row is committed when lock() returns"
        nothing_left_open()
        await lease.save({"v": 1})
        assert leases() == []
        assert other.execute("SELECT value FROM puregram_kv").fetchall() == [('{"v":1}',)]
        nothing_left_open()
    async with store.lock("k") as lease:
        now[0] += 500
        await lease.release(touch=True)
        assert other.execute("SELECT expires_at FROM puregram_kv").fetchone() == (now[0] + 1_000,)
        nothing_left_open()
    async with store.lock("k") as lease:
        await lease.remove()
        assert other.execute("SELECT count(*) FROM puregram_kv").fetchone() == (0,)
        nothing_left_open()
    async with store.lock("k"):
        pass
    assert leases() == []
    nothing_left_open()
    db.close()
    other.close()


@pytest.mark.parametrize("opener", ["implicit INSERT", "explicit BEGIN"])
async def test_a_caller_transaction_in_progress_is_refused(
    tmp_path: Path, driver: ModuleType, opener: str
) -> None:
    """The store neither commits nor writes inside a transaction it did not open."""
    path = tmp_path / "kv.db"
    db = driver.connect(str(path), isolation_level="" if opener == "implicit INSERT" else None)
    store: SqliteStorage[int] = SqliteStorage(db=db)
    db.execute("CREATE TABLE mine (n INTEGER)")
    if opener == "explicit BEGIN":
        db.execute("BEGIN")
    db.execute("INSERT INTO mine VALUES (1)")
    assert db.in_transaction
    with pytest.raises(RuntimeError, match="inside a transaction the store did not open"):
        await store.set("k", 1)
    with pytest.raises(RuntimeError, match="inside a transaction"):
        await store.get("k")
    assert db.in_transaction, "the caller's transaction was ended"
    db.rollback()
    assert not await store.has("k")
    assert db.execute("SELECT count(*) FROM mine").fetchone() == (0,)
    await store.set("k", 1)
    assert await store.get("k") == 1
    db.close()


async def test_a_failed_write_leaves_no_transaction_open(
    tmp_path: Path, driver: ModuleType
) -> None:
    """Another connection holds the write lock; the store's connection does not wait
    (timeout=0) under implicit transactions, where the driver has already sent BEGIN."""
    path = tmp_path / "kv.db"
    db = driver.connect(str(path), timeout=0)
    store: SqliteStorage[int] = SqliteStorage(db=db)
    await store.set("k", 1)
    other = driver.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(driver.OperationalError, match="locked"):
        await store.set("k", 2)
    assert not db.in_transaction
    other.execute("ROLLBACK")
    assert await store.get("k") == 1
    await store.set("k", 3)
    assert other.execute("SELECT value FROM puregram_kv").fetchone() == ("3",)
    db.close()
    other.close()
