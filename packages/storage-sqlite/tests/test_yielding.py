"""Time slices: the store yields the loop to other tasks during bursts, walks and
sweeps, under asyncio and trio.

The slice length is set to 0 (every statement finds its slice run out, so every
operation yields) or to infinity (none does): the tests assert who ran between whom,
never a time."""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from puregram.storage_sqlite import SqliteStorage, _loop, _storage

pytestmark = pytest.mark.anyio


@pytest.fixture
def every_statement_yields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_loop, "SLICE_S", 0.0)


@pytest.fixture
def no_statement_yields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_loop, "SLICE_S", math.inf)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage[Any]]:
    opened: SqliteStorage[Any] = SqliteStorage.open(tmp_path / "kv.db")
    yield opened
    await opened.close()  # safe twice


class Watcher:
    """A task that counts how many times the loop let it run, until stopped."""

    def __init__(self) -> None:
        self.runs = 0
        self.stopped = False

    async def run(self) -> None:
        while not self.stopped:
            self.runs += 1
            await anyio.lowlevel.checkpoint()


async def test_a_burst_that_awaits_nothing_else_lets_other_tasks_run(
    store: SqliteStorage[Any], every_statement_yields: None
) -> None:
    watcher = Watcher()
    seen: list[int] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        await anyio.lowlevel.checkpoint()
        for index in range(50):
            await store.set(f"k{index}", index)
            assert await store.get(f"k{index}") == index
            assert await store.has(f"k{index}")
            seen.append(watcher.runs)
        watcher.stopped = True
    # The watcher ran between every two operations of the burst.
    assert all(later > earlier for earlier, later in itertools.pairwise(seen)), seen
    await store.close()


async def test_within_a_slice_nothing_yields(
    store: SqliteStorage[Any], no_statement_yields: None
) -> None:
    watcher = Watcher()
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        await anyio.lowlevel.checkpoint()
        before = watcher.runs
        for index in range(50):
            await store.set(f"k{index}", index)
            await store.get(f"k{index}")
        assert watcher.runs == before  # one slice: the burst held the loop
        watcher.stopped = True
    await store.close()


async def test_many_tasks_taking_turns_all_finish_in_order_of_arrival(
    store: SqliteStorage[Any], every_statement_yields: None
) -> None:
    order: list[int] = []

    async def worker(number: int) -> None:
        for round_ in range(5):
            await store.set(f"w{number}", round_)
            order.append(number)

    async with anyio.create_task_group() as tg:
        for number in range(20):
            tg.start_soon(worker, number)
    assert sorted(order) == sorted(list(range(20)) * 5)
    for number in range(20):
        assert await store.get(f"w{number}") == 4
    # Parked tasks take their turns first in, first out: every worker's first write
    # comes before any worker's third.
    firsts = [order.index(number) for number in range(20)]
    thirds = [index for index, number in enumerate(order) if order[:index].count(number) == 2]
    assert max(firsts) < min(thirds)
    await store.close()


async def test_a_task_cancelled_while_it_waits_for_its_turn_strands_no_one(
    store: SqliteStorage[Any], every_statement_yields: None
) -> None:
    done: list[int] = []

    async def worker(number: int) -> None:
        for _ in range(10):
            await store.set(f"w{number}", number)
        done.append(number)

    async with anyio.create_task_group() as outer:
        with anyio.CancelScope() as doomed:
            async with anyio.create_task_group() as tg:
                for number in range(3):
                    tg.start_soon(worker, number)
                await anyio.lowlevel.checkpoint()
                doomed.cancel()  # all three, parked or not
        for number in range(3, 6):
            outer.start_soon(worker, number)
    assert sorted(done) == [3, 4, 5]
    await store.close()


async def test_a_long_walk_lets_other_tasks_run_between_pages_and_rows(
    store: SqliteStorage[Any], every_statement_yields: None
) -> None:
    db: Any = store._db
    db.executemany(
        "INSERT INTO puregram_kv VALUES (?, ?, NULL)", [(f"k{i:05d}", "1") for i in range(1_200)]
    )
    watcher = Watcher()
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        await anyio.lowlevel.checkpoint()
        pages: list[int] = []
        async for key in store.keys():
            if key.endswith(("000", "500")):
                pages.append(watcher.runs)
        rows: list[int] = []
        async for _key, _value in store.entries():
            rows.append(watcher.runs)
        watcher.stopped = True
    assert len(set(pages)) == len(pages) == 3, pages  # 3 pages of 500: a yield before each
    assert len(rows) == 1_200
    assert all(later > earlier for earlier, later in itertools.pairwise(rows))
    await store.close()


@pytest.fixture
def tiny_sweep_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("_SWEEP_FIRST", "_SWEEP_MIN", "_SWEEP_MAX"):
        monkeypatch.setattr(_storage, name, 7)


async def test_a_sweep_deletes_in_batches_with_writes_of_other_tasks_between(
    tmp_path: Path, every_statement_yields: None, tiny_sweep_batches: None
) -> None:
    clock = [1_000_000]
    store: SqliteStorage[Any] = SqliteStorage.open(
        tmp_path / "kv.db", ttl_ms=100, clock=lambda: clock[0]
    )
    for index in range(100):
        await store.set(f"old{index:03d}", index)  # expire at 1_000_100
    clock[0] += 1_000
    for index in range(30):
        await store.set(f"live{index:03d}", index)  # expire at 1_001_100
    clock[0] += 50  # old ones expired, live ones not
    remaining: list[int] = []
    count_old = "SELECT count(*) FROM puregram_kv WHERE key LIKE 'old%' AND expires_at < ?"

    async def writer() -> None:
        # Runs between the sweep's batches: a new row, and an expired row made live.
        for index in range(10):
            remaining.append(store._db.execute(count_old, (clock[0],)).fetchone()[0])
            await store.set(f"new{index}", index)
            await store.set(f"old{index:03d}", -index)

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        deleted = await store.sweep()
    # The writer ran while the sweep was half done.
    assert any(0 < left < 95 for left in remaining), remaining
    keys = [key async for key in store.keys()]
    assert [key for key in keys if key.startswith("live")] == [f"live{i:03d}" for i in range(30)]
    assert [key for key in keys if key.startswith("new")] == [f"new{i}" for i in range(10)]
    # Every expired row is gone. The ten the writer wrote again are there with their new
    # value: written before the sweep reached them (not deleted), or after (inserted).
    assert [key for key in keys if key.startswith("old")] == [f"old{i:03d}" for i in range(10)]
    for index in range(10):
        assert await store.get(f"old{index:03d}") == -index
    assert 90 <= deleted <= 100
    rows = store._db.execute(
        "SELECT count(*) FROM puregram_kv WHERE expires_at < ?", (clock[0],)
    ).fetchone()
    assert rows == (0,)
    await store.close()


async def test_a_sweep_of_many_batches_leaves_only_live_rows(
    tmp_path: Path, tiny_sweep_batches: None
) -> None:
    store: SqliteStorage[Any] = SqliteStorage.open(tmp_path / "kv.db", clock=lambda: 1_000)
    db: Any = store._db
    rows = [(f"k{i:04d}", str(i), 500 + i if i % 3 else None) for i in range(600)]
    rows += [(f"e{i:04d}", str(i), 999 - i % 400) for i in range(300)]  # all expired
    rows += [(f"n{i:04d}", str(i), 1_000) for i in range(50)]  # live: expires_at >= now
    db.executemany("INSERT INTO puregram_kv VALUES (?, ?, ?)", rows)
    expired = sum(1 for _, _, at in rows if at is not None and at < 1_000)
    assert await store.sweep() == expired
    left = db.execute("SELECT key FROM puregram_kv ORDER BY key").fetchall()
    assert [key for (key,) in left] == sorted(
        key for key, _, at in rows if at is None or at >= 1_000
    )
    assert await store.sweep() == 0
    await store.close()


async def test_a_cancelled_sweep_keeps_its_committed_batches(
    tmp_path: Path, every_statement_yields: None, tiny_sweep_batches: None
) -> None:
    store: SqliteStorage[Any] = SqliteStorage.open(tmp_path / "kv.db", clock=lambda: 1_000)
    db: Any = store._db
    db.executemany(
        "INSERT INTO puregram_kv VALUES (?, '1', 5)", [(f"k{i:03d}",) for i in range(70)]
    )
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.sweep)
            count = "SELECT count(*) FROM puregram_kv"
            for _ in range(1_000):  # until the first batch is in
                await anyio.lowlevel.checkpoint()
                if db.execute(count).fetchone()[0] < 70:
                    break
            scope.cancel()
    left = db.execute(count).fetchone()[0]
    assert left % 7 == 0  # whole batches of 7 went
    assert 0 < left < 70  # some, not all
    assert await store.sweep() == left
    await store.close()


def test_coroutines_driven_by_hand_run_without_a_loop(tmp_path: Path) -> None:
    """No asyncio or trio loop: the store has nothing to yield to and simply runs."""
    store: SqliteStorage[int] = SqliteStorage.open(tmp_path / "kv.db")
    _loop._slice.started = 0.0  # the slice has run out

    def run(coroutine: Any) -> Any:
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        raise AssertionError("the coroutine waited for something")

    run(store.set("k", 1))
    assert run(store.get("k")) == 1
    run(store.close())
