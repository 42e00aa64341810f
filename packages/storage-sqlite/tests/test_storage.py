"""ttl, touch, get_and_touch, sweep, count_hit and paged iteration, with an injected clock."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import pytest

from puregram.storage import ForeignValueError
from puregram.storage_sqlite import SqliteStorage, connect

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000
T = TypeVar("T")


async def collect(items: AsyncIterator[T]) -> list[T]:
    """Everything an async iterator yields, as a list."""
    return [item async for item in items]


class Clock:
    """Unix milliseconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "kv.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


Peek = Callable[[str], "tuple[Any, Any] | None"]


@pytest.fixture
def peek(path: Path, driver: ModuleType) -> Peek:
    """``(value, expires_at)`` at a key as a separate connection sees it.

    The connection is of the driver under test: two copies of the SQLite library in one
    process must never open the same file (each drops the other's POSIX locks).
    """

    def look(key: str) -> tuple[Any, Any] | None:
        db = driver.connect(str(path), timeout=0)
        try:
            sql = "SELECT value, expires_at FROM puregram_kv WHERE key = ?"
            found = db.execute(sql, (key,)).fetchone()
        finally:
            db.close()
        return None if found is None else (json.loads(found[0]), found[1])

    return look


@pytest.fixture
def db(path: Path, driver: ModuleType) -> Any:
    connection = connect(path, driver=driver)
    yield connection
    connection.close()


async def test_set_stamps_expiry_and_expired_rows_read_as_missing(
    db: Any, peek: Peek, clock: Clock
) -> None:
    store: SqliteStorage[str] = SqliteStorage(db=db, ttl_ms=1_000, clock=clock)
    await store.set("k", "v")
    assert peek("k") == ("v", T0 + 1_000)
    clock.now = T0 + 1_000  # live while expires_at >= now, as in the TypeScript package
    assert await store.has("k")
    assert await collect(store.keys()) == ["k"]
    clock.now = T0 + 1_001
    assert not await store.has("k")
    assert await collect(store.keys()) == []
    assert await collect(store.values()) == []
    assert peek("k") is not None, "has() and iteration must not delete"
    assert await store.get("k") is None
    assert peek("k") is None, "get() deletes the expired row"


async def test_without_ttl_rows_never_expire(db: Any, peek: Peek, clock: Clock) -> None:
    store: SqliteStorage[int] = SqliteStorage(db=db, clock=clock)
    await store.set("k", 1)
    assert peek("k") == (1, None)
    clock.now += 10**12
    assert await store.get("k") == 1
    await store.touch("k")
    assert peek("k") == (1, None), "touch without ttl_ms changes nothing"
    assert await store.sweep() == 0


async def test_touch_rolls_the_ttl_forward_and_never_revives(
    db: Any, peek: Peek, clock: Clock
) -> None:
    store: SqliteStorage[str] = SqliteStorage(db=db, ttl_ms=1_000, clock=clock)
    await store.set("k", "v")
    clock.now = T0 + 900
    await store.touch("k")
    assert peek("k") == ("v", T0 + 1_900)
    clock.now = T0 + 1_500
    assert await store.get("k") == "v"
    clock.now = T0 + 1_901
    await store.touch("k")
    assert peek("k") == ("v", T0 + 1_900), "touch revived an expired row"
    assert await store.get("k") is None
    await store.touch("missing")
    assert peek("missing") is None


async def test_get_and_touch_reads_and_rolls_in_one_statement(
    db: Any, peek: Peek, clock: Clock
) -> None:
    store: SqliteStorage[dict[str, int]] = SqliteStorage(db=db, ttl_ms=1_000, clock=clock)
    await store.set("k", {"n": 1})
    clock.now = T0 + 600
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    assert await store.get_and_touch("k") == {"n": 1}
    db.set_trace_callback(None)
    assert len(statements) == 1
    assert statements[0].startswith("UPDATE")
    assert peek("k") == ({"n": 1}, T0 + 1_600)
    clock.now = T0 + 1_601
    assert await store.get_and_touch("k") is None
    assert peek("k") == ({"n": 1}, T0 + 1_600), "an expired row is not revived"
    assert await store.get_and_touch("missing") is None
    assert peek("missing") is None


async def test_get_and_touch_without_ttl_is_get(db: Any, clock: Clock) -> None:
    store: SqliteStorage[int] = SqliteStorage(db=db, clock=clock)
    await store.set("k", 5)
    assert await store.get_and_touch("k") == 5
    assert await store.get_and_touch("missing") is None


async def test_sweep_deletes_only_expired_rows_and_counts_them(
    db: Any, peek: Peek, clock: Clock
) -> None:
    short: SqliteStorage[int] = SqliteStorage(db=db, ttl_ms=1_000, clock=clock)
    forever: SqliteStorage[int] = SqliteStorage(db=db, clock=clock)
    for index in range(10):
        await short.set(f"short:{index}", index)
    await forever.set("forever", 0)
    clock.now = T0 + 500
    await short.set("later", 1)
    clock.now = T0 + 1_000
    assert await short.sweep() == 0, "a row whose expires_at is now is live"
    clock.now = T0 + 1_001
    assert await short.sweep() == 10
    assert await short.sweep() == 0
    assert peek("later") == (1, T0 + 1_500)
    assert peek("forever") == (0, None)


async def test_sweep_uses_the_expiry_index(db: Any) -> None:
    SqliteStorage(db=db)
    plan = db.execute(
        "EXPLAIN QUERY PLAN DELETE FROM puregram_kv WHERE expires_at < ?", (0,)
    ).fetchall()
    assert any("puregram_kv:expires_at" in str(step) for step in plan), plan


async def test_count_hit_counts_in_a_window_and_starts_a_new_one(
    db: Any, peek: Peek, clock: Clock
) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db, clock=clock)
    assert await store.count_hit("k", 1_000) == (1, T0 + 1_000)
    clock.now = T0 + 999
    assert await store.count_hit("k", 1_000) == (2, T0 + 1_000)
    assert peek("k") == ({"hits": 2, "resetAt": T0 + 1_000}, T0 + 1_000)
    clock.now = T0 + 1_001
    assert await store.get("k") is None, "the entry expires when its window ends"
    assert await store.count_hit("k", 1_000) == (1, T0 + 2_001)
    clock.now = T0 + 5_000
    assert await store.count_hit("k", 1_000) == (1, T0 + 6_000), "an ended window restarts"


async def test_a_row_is_live_while_expires_at_is_not_before_now(
    db: Any, peek: Peek, clock: Clock
) -> None:
    """The TypeScript package's boundary: live while expires_at >= now, expired once
    expires_at < now, for every operation."""
    store: SqliteStorage[Any] = SqliteStorage(db=db, ttl_ms=1_000, clock=clock)
    plain: SqliteStorage[Any] = SqliteStorage(db=db, clock=clock)  # get_and_touch is get
    for key in ("get", "has", "keys", "touch", "gat", "plain", "sweep", "hit"):
        await store.set(key, {"key": key})
    clock.now = T0 + 1_000  # every expires_at == now: all live
    assert await store.get("get") == {"key": "get"}
    assert await store.has("has")
    assert "keys" in await collect(store.keys())
    assert ("keys", {"key": "keys"}) in await collect(store.entries())
    await store.touch("touch")
    assert peek("touch") == ({"key": "touch"}, T0 + 2_000)
    assert await store.get_and_touch("gat") == {"key": "gat"}
    assert peek("gat") == ({"key": "gat"}, T0 + 2_000)
    assert await plain.get_and_touch("plain") == {"key": "plain"}
    assert await store.sweep() == 0
    with pytest.raises(ForeignValueError):
        await store.count_hit("hit", 500)
    # A counter whose window ends now starts a new one (resetAt must be in the future).
    await store.set("window", {"hits": 3, "resetAt": T0 + 1_000})
    assert await store.count_hit("window", 500) == (1, T0 + 1_500)
    clock.now = T0 + 1_001  # one millisecond later: expires_at < now, all expired
    assert await store.get("get") is None
    assert peek("get") is None, "get deletes the expired row"
    assert not await store.has("has")
    assert "keys" not in await collect(store.keys())
    await store.touch("keys")
    assert peek("keys") == ({"key": "keys"}, T0 + 1_000), "touch revived an expired row"
    assert await plain.get_and_touch("plain") is None
    assert await store.count_hit("hit", 500) == (1, T0 + 1_501)
    assert await store.sweep() == 3  # has, keys, sweep


async def test_count_hit_reads_a_counter_written_with_set(db: Any, clock: Clock) -> None:
    """A consumer on a plain KVStorage writes the same record with set()."""
    store: SqliteStorage[Any] = SqliteStorage(db=db, clock=clock)
    await store.set("k", {"hits": 4, "resetAt": T0 + 300})
    assert await store.count_hit("k", 1_000) == (5, T0 + 300)


async def test_count_hit_never_overwrites_a_live_foreign_value(db: Any, clock: Clock) -> None:
    """A session record at a counter's key is another plugin's data: refused, kept."""
    store: SqliteStorage[Any] = SqliteStorage(db=db, clock=clock)
    for foreign in ("not a counter", {"counter": 3}, {"hits": "4", "resetAt": T0 + 300}):
        await store.set("other", foreign)
        with pytest.raises(ForeignValueError, match="'other' is live and not a") as caught:
            await store.count_hit("other", 1_000)
        assert caught.value.key == "other"
        assert isinstance(caught.value, ValueError)
        assert await store.get("other") == foreign


async def test_count_hit_replaces_an_expired_foreign_value(db: Any, clock: Clock) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db, clock=clock, ttl_ms=100)
    await store.set("other", {"counter": 3})
    clock.now += 100
    with pytest.raises(ForeignValueError):  # expires_at == now: still live
        await store.count_hit("other", 1_000)
    clock.now += 1
    assert await store.count_hit("other", 1_000) == (1, clock() + 1_000)


async def test_count_hit_rejects_a_window_below_one(db: Any) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    for bad in (0, -5):
        with pytest.raises(ValueError, match="window_ms"):
            await store.count_hit("k", bad)
    with pytest.raises(TypeError, match="window_ms"):
        await store.count_hit("k", 0.5)  # type: ignore[arg-type]
    assert not await store.has("k")


async def test_count_hit_is_exact_under_concurrent_tasks(path: Path, driver: ModuleType) -> None:
    """Two connections to one file, 200 tasks each: every hit counted once."""
    first, second = connect(path, driver=driver), connect(path, driver=driver)
    stores: list[SqliteStorage[Any]] = [SqliteStorage(db=first), SqliteStorage(db=second)]
    results: list[int] = []

    async def hit(store: SqliteStorage[Any]) -> None:
        await anyio.lowlevel.checkpoint()  # let the tasks interleave
        results.append((await store.count_hit("shared", 60_000))[0])

    async with anyio.create_task_group() as group:
        for index in range(400):
            group.start_soon(hit, stores[index % 2])
    assert sorted(results) == list(range(1, 401))
    stored = await stores[0].get("shared")
    assert stored is not None
    assert stored["hits"] == 400
    first.close()
    second.close()


async def test_iteration_pages_by_key_and_includes_the_empty_key(db: Any) -> None:
    store: SqliteStorage[int] = SqliteStorage(db=db)
    keys = ["", *(f"k{index:04d}" for index in range(1_201))]
    db.executemany("INSERT INTO puregram_kv (key, value) VALUES (?, ?)", [(k, "1") for k in keys])
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    assert await collect(store.keys()) == keys
    db.set_trace_callback(None)
    assert len(statements) == 3, "1,202 rows come in three pages of 500"
    assert all("LIMIT" in sql and "OFFSET" not in sql for sql in statements)
    assert await collect(store.entries()) == [(key, 1) for key in keys]


async def test_iteration_memory_stays_bounded(db: Any) -> None:
    """20,000 rows: iterating them holds one page at a time, not the table."""
    store: SqliteStorage[str] = SqliteStorage(db=db)
    db.executemany(
        "INSERT INTO puregram_kv (key, value) VALUES (?, ?)",
        ((f"key:{index:06d}", '"some value text"') for index in range(20_000)),
    )
    tracemalloc.start()
    try:
        count = 0
        async for _key, _value in store.entries():
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000
    # The whole table as Python tuples would take about 4 MB.
    assert peak < 1_000_000, f"iteration peaked at {peak} bytes"


async def test_two_tables_in_one_file_are_separate(db: Any) -> None:
    first: SqliteStorage[int] = SqliteStorage(db=db, table="first")
    second: SqliteStorage[int] = SqliteStorage(db=db, table="second")
    await first.set("k", 1)
    assert not await second.has("k")
    assert await collect(second.keys()) == []


async def test_a_set_without_ttl_clears_the_expiry_of_the_row_there(db: Any, clock: Clock) -> None:
    expiring: SqliteStorage[int] = SqliteStorage(db=db, ttl_ms=1_000, clock=clock)
    forever: SqliteStorage[int] = SqliteStorage(db=db, clock=clock)
    await expiring.set("k", 1)
    await forever.set("k", 2)  # the row had an expiry: the full upsert clears it
    await forever.set("k", 3)  # and now it has none
    clock.now += 10_000
    assert await forever.get("k") == 3
    assert db.execute("SELECT expires_at FROM puregram_kv WHERE key = 'k'").fetchone() == (None,)
