"""The per-key lock of ``isolation="process"``: overlapping updates for one key lose
nothing; the table stays small. (The lease path, the default over a memory store, is
tested in ``test_leases.py``.)"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from puregram.session import session
from tools.stores import YieldingStorage

pytestmark = pytest.mark.anyio


class Update:
    def __init__(self, sender_id: int) -> None:
        self.sender_id = sender_id
        self.session: Any = None


async def bump_through(mw: Any, sender_id: int) -> None:
    context = Update(sender_id)

    async def handler() -> None:
        value = context.session.get("counter", 0)
        await anyio.lowlevel.checkpoint()  # a read-modify-write that spans a checkpoint
        context.session.counter = value + 1

    await mw(context, handler)


async def test_100_concurrent_updates_for_one_key_count_to_100() -> None:
    store = YieldingStorage()
    mw = session(storage=store, isolation="process")
    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(bump_through, mw, 1)
    assert await store.get("1") == {"counter": 100}


async def test_two_process_isolated_middlewares_on_one_store_lose_counts() -> None:
    """Guards the test above: two middlewares share a store but not a lock table, as
    the README warns; the default (the store's lease) keeps all 100 (test_leases.py)."""
    store = YieldingStorage()
    first = session(storage=store, isolation="process")
    second = session(storage=store, isolation="process")
    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(bump_through, first if i % 2 else second, 1)
    counter = (await store.get("1"))["counter"]
    assert counter < 100


async def test_distinct_keys_run_concurrently_and_leave_no_locks_behind() -> None:
    store = YieldingStorage()
    mw: Any = session(storage=store, isolation="process")
    peak = 0

    async def watch() -> None:
        nonlocal peak
        for _ in range(50):
            peak = max(peak, len(mw._locks))
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        for sender in range(200):
            tg.start_soon(bump_through, mw, sender)
    assert peak > 1  # the keys really overlapped
    assert len(mw._locks) == 0
    assert store.size == 200


async def test_the_lock_is_released_when_the_handler_raises() -> None:
    mw: Any = session(isolation="process")

    async def fail() -> None:
        raise KeyError("x")

    for _ in range(3):
        with pytest.raises(KeyError):
            await mw(Update(1), fail)
    assert len(mw._locks) == 0
    await bump_through(mw, 1)  # not deadlocked


async def test_the_lock_is_released_when_the_update_is_cancelled() -> None:
    mw: Any = session(isolation="process")
    started = anyio.Event()

    async def hang() -> None:
        started.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(mw, Update(1), hang)
        await started.wait()
        tg.cancel_scope.cancel()
    assert len(mw._locks) == 0
