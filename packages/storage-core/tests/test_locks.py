"""KeyLocks: one holder per key, first come first served, and no trace when unused."""

import anyio
import anyio.lowlevel
import pytest

from puregram.storage import KeyLocks

pytestmark = pytest.mark.anyio


async def test_one_holder_per_key_and_the_table_empties() -> None:
    locks = KeyLocks(anyio.Event)
    order: list[str] = []

    async def use(name: str) -> None:
        await locks.acquire("k")
        try:
            order.append(f"{name} in")
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            order.append(f"{name} out")
        finally:
            locks.release("k")

    async with anyio.create_task_group() as tg:
        for name in "abc":
            tg.start_soon(use, name)
    # whatever order the backend schedules, nobody enters while another is inside
    assert sorted(order) == ["a in", "a out", "b in", "b out", "c in", "c out"]
    assert all(order[i][0] == order[i + 1][0] for i in range(0, 6, 2)), order
    assert len(locks) == 0


async def test_other_keys_do_not_wait() -> None:
    locks = KeyLocks(anyio.Event)
    await locks.acquire("a")
    with anyio.fail_after(1):
        await locks.acquire("b")
    locks.release("b")
    locks.release("a")
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    locks = KeyLocks(anyio.Event)
    await locks.acquire("k")
    caught: list[bool] = []

    async def waiter() -> None:
        with anyio.move_on_after(0.01) as scope:
            await locks.acquire("k")
        caught.append(scope.cancelled_caught)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
    assert caught == [True]
    locks.release("k")
    assert len(locks) == 0


async def test_waiters_are_served_in_arrival_order() -> None:
    locks = KeyLocks(anyio.Event)
    assert locks.try_acquire("k")
    served: list[int] = []

    async def waiter(n: int) -> None:
        await locks.acquire("k")
        served.append(n)
        locks.release("k")

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(waiter, n)
            await anyio.wait_all_tasks_blocked()
        assert not locks.try_acquire("k")  # held, with five in the queue
        locks.release("k")
    assert served == [0, 1, 2, 3, 4]
    assert len(locks) == 0


async def test_a_free_key_is_taken_without_yielding() -> None:
    locks = KeyLocks(anyio.Event)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await locks.acquire("k")  # a checkpoint here would raise the cancellation
    assert len(locks) == 1
    locks.release("k")


async def test_wait_on_a_key_nobody_holds_raises_instead_of_hanging() -> None:
    locks = KeyLocks(anyio.Event)
    with anyio.fail_after(1), pytest.raises(RuntimeError, match="not held"):
        await locks.wait("free")
    assert len(locks) == 0


async def test_hold_releases_after_the_block_even_when_it_raises() -> None:
    locks = KeyLocks(anyio.Event)
    async with locks.hold("k"):
        assert not locks.try_acquire("k")
    assert len(locks) == 0
    with pytest.raises(KeyError):
        async with locks.hold("k"):
            raise KeyError("boom")
    assert len(locks) == 0


async def test_hold_serialises_overlapping_holders() -> None:
    locks = KeyLocks(anyio.Event)
    inside: list[int] = []
    most = [0]

    async def use() -> None:
        async with locks.hold("k"):
            inside.append(1)
            most[0] = max(most[0], len(inside))
            await anyio.lowlevel.checkpoint()
            inside.pop()

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(use)
    assert most[0] == 1
    assert len(locks) == 0
