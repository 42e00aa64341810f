"""Over a real SQLite file: the limiter counts through ``SqliteStorage.count_hit``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from puregram.rate_limit import rate_limit
from puregram.storage import is_counter_storage
from puregram.storage_sqlite import SqliteStorage

pytestmark = pytest.mark.anyio

START_MS = 1_700_000_000_000


class Context:
    def __init__(self, sender_id: int | None) -> None:
        self.sender_id = sender_id


async def test_window_rollover_and_entry_over_sqlite(tmp_path: Path) -> None:
    now = [START_MS]
    storage: SqliteStorage[Any] = SqliteStorage.open(tmp_path / "bot.db", clock=lambda: now[0])
    assert is_counter_storage(storage)
    limiter = rate_limit(storage=storage, clock=lambda: now[0])
    user = Context(42)
    try:
        assert [await limiter.check(user, limit=2, window=10) for _ in range(4)] == [
            None,
            None,
            10,
            10,
        ]
        assert await storage.get("default:42") == {"hits": 4, "resetAt": START_MS + 10_000}
        now[0] += 7_300
        assert await limiter.check(user, limit=2, window=10) == 3
        now[0] = START_MS + 10_000
        assert await limiter.check(user, limit=2, window=10) is None
        assert await storage.get("default:42") == {"hits": 1, "resetAt": START_MS + 20_000}
        await limiter.reset("default:42")
        assert not await storage.has("default:42")
        assert await limiter.check(Context(None), limit=1, window=10) is None
        assert [key async for key in storage.keys()] == []
    finally:
        await storage.close()


async def test_the_entry_is_readable_by_another_connection(tmp_path: Path) -> None:
    storage: SqliteStorage[Any] = SqliteStorage.open(tmp_path / "bot.db")
    limiter = rate_limit(storage=storage)
    try:
        await limiter.hit("search:7", 5, 60)
        await limiter.hit("search:7", 5, 60)
    finally:
        await storage.close()
    # closing(): a sqlite3 connection's own context manager commits but never closes it
    # (Python 3.13 reports the leak as a ResourceWarning).
    with closing(sqlite3.connect(tmp_path / "bot.db")) as other:
        (value,) = other.execute("SELECT value FROM puregram_kv WHERE key = 'search:7'").fetchone()
    assert '"hits":2' in value.replace(" ", "")


def test_two_processes_count_exactly_over_one_sqlite_file(
    tmp_path: Path, race_processes: Callable[..., list[int]]
) -> None:
    """2 processes x 8 tasks x 100 hits, limit 500 in one window: exactly 500 pass.
    One process runs asyncio and the other trio, on one file."""
    path = tmp_path / "shared.db"
    anyio.run(SqliteStorage.open(path).close)  # create the table before the race
    allowed = race_processes("sqlite", str(path), backends=("asyncio", "trio"))
    assert sum(allowed) == 500, allowed
    with closing(sqlite3.connect(path)) as db:
        (value,) = db.execute("SELECT value FROM puregram_kv WHERE key = 'race:1'").fetchone()
    assert '"hits":1600' in value.replace(" ", "")
