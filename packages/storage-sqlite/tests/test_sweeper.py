"""Periodic sweeps under asyncio and trio, close() and the async context manager.

The sweeper sleeps in real time (a 20 ms interval); which rows are expired comes from the
injected clock, and tests wait for a sweep by polling with a 10 s deadline.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

from puregram.storage_sqlite import SqliteStorage, connect

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000


async def wait_until_swept(db: Any, *, deadline_s: float = 10.0) -> None:
    with anyio.fail_after(deadline_s):
        while True:
            sql = "SELECT count(*) FROM puregram_kv WHERE key LIKE 'old%'"
            if db.execute(sql).fetchone() == (0,):
                return
            await anyio.sleep(0.01)


async def test_periodic_sweeps_delete_expired_rows(tmp_path: Path, driver: ModuleType) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    now = [T0]
    store: SqliteStorage[int] = SqliteStorage(
        db=db, ttl_ms=1_000, sweep_interval_ms=20, clock=lambda: now[0]
    )
    for index in range(5):
        await store.set(f"old{index}", index)  # the first operation starts the sweeper
    now[0] += 1_001  # past expires_at
    await store.set("new", 1)
    await wait_until_swept(db)
    assert await store.get("new") == 1
    # It keeps running: rows that expire later go too.
    await store.set("old-again", 1)
    now[0] += 1_001  # past expires_at
    await wait_until_swept(db)
    await store.close()
    db.close()


async def test_close_stops_sweeping_and_is_safe_twice(tmp_path: Path, driver: ModuleType) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    now = [T0]
    store: SqliteStorage[int] = SqliteStorage(
        db=db, ttl_ms=1_000, sweep_interval_ms=10, clock=lambda: now[0]
    )
    async with store:
        await store.set("old0", 0)
        now[0] += 1_001  # past expires_at
        await wait_until_swept(db)
    await store.close()  # the second close, after __aexit__
    await store.set("old1", 1)
    now[0] += 1_001  # past expires_at
    await anyio.sleep(0.2)  # twenty intervals
    assert db.execute("SELECT count(*) FROM puregram_kv").fetchone() == (1,), "swept after close"
    # The connection was the caller's: still open and usable, and so is the store.
    assert await store.sweep() == 1
    db.close()


async def test_async_with_starts_sweeping_before_any_operation(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    setup = connect(path)
    setup.execute(
        "CREATE TABLE puregram_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)"
    )
    setup.execute("INSERT INTO puregram_kv VALUES ('old', '1', 5)")
    async with SqliteStorage.open(path, sweep_interval_ms=10):
        await wait_until_swept(setup)
    setup.close()


async def test_close_right_after_the_first_operation(tmp_path: Path) -> None:
    """The sweeper task may not have run yet when close() cancels it."""
    store = SqliteStorage.open(tmp_path / "kv.db", sweep_interval_ms=10)
    await store.set("k", 1)
    await store.close()
    await store.close()


async def test_a_store_from_open_closes_its_connection(tmp_path: Path) -> None:
    store = SqliteStorage.open(tmp_path / "kv.db")
    await store.set("k", 1)
    await store.close()
    with pytest.raises(Exception, match="closed"):
        await store.get("k")
    await store.close()


async def test_a_failing_sweep_is_logged_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real lock: another connection holds the write lock for a while, the store's
    connection does not wait (busy_timeout 0), so background sweeps fail until it ends."""
    path = tmp_path / "kv.db"
    now = [T0]
    store: SqliteStorage[int] = SqliteStorage.open(
        path, ttl_ms=1_000, sweep_interval_ms=10, busy_timeout_ms=0, clock=lambda: now[0]
    )
    await store.set("old", 1)
    now[0] += 1_001  # past expires_at
    blocker = connect(path)
    blocker.execute("BEGIN IMMEDIATE")
    with anyio.fail_after(10):
        while True:
            if any("periodic sweep failed" in r.getMessage() for r in caplog.records):
                break
            await anyio.sleep(0.01)
    blocker.execute("ROLLBACK")
    await wait_until_swept(blocker)
    blocker.close()
    await store.close()
