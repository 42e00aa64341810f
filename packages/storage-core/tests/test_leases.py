"""In-memory leases (``MemoryStorage.lock``, ``LruMemoryStorage.lock``) and their pass-through
in ``enhance_storage``: exclusion per key, a hung holder's expiry, fencing, no trace."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from puregram.storage import (
    KVStorage,
    LeaseLostError,
    LruMemoryStorage,
    MemoryStorage,
    enhance_storage,
    is_lock_storage,
)

pytestmark = pytest.mark.anyio


def _stores() -> list[Any]:
    return [MemoryStorage(), LruMemoryStorage(max=100)]


@pytest.fixture(params=["memory", "lru", "enhanced"])
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryStorage()
    if request.param == "lru":
        return LruMemoryStorage(max=100)
    return enhance_storage(MemoryStorage(), migrations={1: lambda data: data})


async def _bump(store: Any, key: str) -> None:
    async with store.lock(key) as lease:
        value = lease.value or 0
        await anyio.lowlevel.checkpoint()  # another task runs here: it must wait
        await lease.save(value + 1)


async def test_memory_stores_are_lock_storages(store: Any) -> None:
    assert is_lock_storage(store)


async def test_overlapping_read_modify_writes_lose_nothing(store: Any) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(_bump, store, "counter")
    assert await store.get("counter") == 100


async def test_the_lease_reads_the_value_and_whether_it_was_found(store: Any) -> None:
    async with store.lock("k") as lease:
        assert (lease.key, lease.value, lease.found) == ("k", None, False)
        await lease.save(None)
    async with store.lock("k") as lease:
        assert (lease.value, lease.found) == (None, True)  # a stored None is found
        await lease.remove()
    assert not await store.has("k")


async def test_leaving_the_block_releases_without_writing(store: Any) -> None:
    await store.set("k", "kept")
    with pytest.raises(RuntimeError, match="handler failed"):
        async with store.lock("k"):
            raise RuntimeError("handler failed")
    with anyio.fail_after(1):  # free at once
        async with store.lock("k") as lease:
            assert lease.value == "kept"
    assert await store.get("k") == "kept"


async def test_a_hung_holder_loses_the_key_after_lease_ms_and_its_save_is_refused(
    store: Any,
) -> None:
    stale_cm = store.lock("k", lease_ms=50)
    stale = await stale_cm.__aenter__()  # taken and never released: a hung holder
    start = anyio.current_time()
    with anyio.fail_after(5):
        async with store.lock("k") as lease:
            waited = anyio.current_time() - start
            await lease.save("second")
    assert waited >= 0.045  # it waited for the deadline, not less
    with pytest.raises(LeaseLostError) as caught:
        await stale.save("stale")
    assert caught.value.key == "k"
    assert await store.get("k") == "second"
    await stale_cm.__aexit__(None, None, None)  # a late exit frees nothing of the other's


async def test_a_lease_ends_once(store: Any) -> None:
    async with store.lock("k") as lease:
        await lease.save(1)
        with pytest.raises(RuntimeError, match="ended"):
            await lease.save(2)
    assert await store.get("k") == 1


async def test_a_cancelled_waiter_leaves_no_trace_and_passes_nothing_on() -> None:
    store: MemoryStorage[int] = MemoryStorage()
    async with store.lock("k") as held:
        with anyio.move_on_after(0.05):
            async with store.lock("k"):
                raise AssertionError("the waiter got a held key")
        await held.save(1)
    assert len(store._leases) == 0
    async with store.lock("k") as lease:
        assert lease.value == 1


async def test_distinct_keys_do_not_wait() -> None:
    store: MemoryStorage[int] = MemoryStorage()
    async with store.lock("a"):
        with anyio.fail_after(1):
            async with store.lock("b") as lease:
                await lease.save(2)


async def test_two_instances_do_not_exclude_each_other() -> None:
    # Documented: memory leases are per instance.
    one: MemoryStorage[int] = MemoryStorage()
    two: MemoryStorage[int] = MemoryStorage()
    async with one.lock("k"):
        with anyio.fail_after(1):
            async with two.lock("k"):
                pass


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"], ids=repr)
async def test_a_bad_lease_ms_is_refused(bad: Any) -> None:
    store: KVStorage[Any] = MemoryStorage()
    with pytest.raises((TypeError, ValueError), match="lease_ms"):
        async with store.lock("k", lease_ms=bad):  # type: ignore[attr-defined]
            pass


async def test_a_non_str_key_is_refused() -> None:
    store: MemoryStorage[int] = MemoryStorage()
    with pytest.raises(TypeError):
        store.lock(1)  # type: ignore[arg-type]


async def test_enhanced_lease_unwraps_migrates_and_wraps() -> None:
    now = [1_000]
    base: MemoryStorage[Any] = MemoryStorage({"old": {"__v": 0, "data": 1}})
    storage = enhance_storage(
        base, migrations={1: lambda d: d * 10}, ttl_ms=500, clock=lambda: now[0]
    )
    assert is_lock_storage(storage)
    async with storage.lock("old") as lease:
        assert (lease.value, lease.found) == (10, True)
        await lease.save(11)
    assert await base.get("old") == {"__v": 1, "__exp": 1_500, "data": 11}
    now[0] = 1_501  # expired: a lease sees it as missing
    async with storage.lock("old") as lease:
        assert (lease.value, lease.found) == (None, False)
        await lease.release()


async def test_enhance_storage_offers_lock_only_when_the_base_has_it() -> None:
    class Plain:
        async def get(self, key: str) -> Any:
            return None

        async def set(self, key: str, value: Any) -> None:
            pass

        async def delete(self, key: str) -> None:
            pass

        async def has(self, key: str) -> bool:
            return False

    assert not is_lock_storage(enhance_storage(Plain()))


# -- for adapter authors: lease_backoff and BaseLease ----------------------------------------


def test_lease_backoff_starts_at_1_ms_doubles_and_stops_at_50_ms() -> None:
    from puregram.storage import lease_backoff

    delays = lease_backoff(jitter=lambda low, high: high)
    assert [round(next(delays) * 1000) for _ in range(9)] == [1, 2, 4, 8, 16, 32, 50, 50, 50]
    first = next(lease_backoff())
    assert 0.0005 <= first <= 0.001


def test_base_lease_keeps_the_state_every_lease_has_and_ends_once() -> None:
    from puregram.storage import BaseLease

    class OwnLease(BaseLease[str]):
        __slots__ = ()

        def end(self) -> None:
            self._check_open()
            self._done = True

    lease = OwnLease("user:1", True, "v")
    assert (lease.key, lease.found, lease.value) == ("user:1", True, "v")
    assert repr(lease) == "OwnLease(key='user:1', held)"
    lease.end()
    assert repr(lease) == "OwnLease(key='user:1', ended)"
    with pytest.raises(RuntimeError, match="the lease on key 'user:1' has ended already"):
        lease.end()
    long = OwnLease("k" * 500)
    assert (long.found, long.value) == (False, None)
    assert "(500 chars)" in repr(long)  # a huge key cannot flood a log line
