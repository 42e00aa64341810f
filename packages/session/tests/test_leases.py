"""Updates under the store's lease (``isolation="store"``, the default on a LockStorage).

Over ``MemoryStorage`` the lease is the real in-memory one; ``LeaseCounting`` is a test
double of the ``Lease`` contract that records each call, so that the round trips of the
lease path are pinned without a server: taking the lease and reading is one round trip,
and ``save``, ``remove`` or ``release`` one more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from puregram.session import LeaseLostError, session
from puregram.storage import LruMemoryStorage, MemoryStorage
from tools.stores import YieldingStorage

pytestmark = pytest.mark.anyio


class Update:
    def __init__(self, sender_id: object = 1) -> None:
        self.sender_id = sender_id
        self.session: Any = None


async def run(mw: Any, context: Any, handler: Any) -> None:
    async def next_() -> None:
        await handler(context)

    await mw(context, next_)


async def bump(context: Any) -> None:
    value = context.session.get("counter", 0)
    await anyio.lowlevel.checkpoint()  # a read-modify-write that spans a checkpoint
    context.session.counter = value + 1


async def read(context: Any) -> None:
    _ = context.session.get("counter")


async def clear(context: Any) -> None:
    context.session.clear()


async def fail(context: Any) -> None:
    context.session.counter = 100
    raise LookupError


# -- a counting double of the Lease contract ----------------------------------------------


class FakeLease:
    def __init__(self, store: LeaseCounting, key: str) -> None:
        self.store = store
        self.key = key
        self.found = key in store.inner._data
        self.value = store.inner._data.get(key)
        self.ended = False
        self.lost = False

    def _end(self, call: str) -> None:
        assert not self.ended, "a lease is ended once"
        self.ended = True
        self.store.calls.append(call)
        if self.lost:
            raise LeaseLostError(self.key, "the test said so")

    async def save(self, value: Any) -> None:
        self._end("save")
        self.store.inner._data[self.key] = value

    async def remove(self) -> None:
        self._end("remove")
        self.store.inner._data.pop(self.key, None)

    async def release(self, *, touch: bool = False) -> None:
        if not self.ended:
            self.ended = True
            self.store.calls.append("release+touch" if touch else "release")


class LeaseCounting:
    """A plain ``KVStorage`` with ``lock``: each call is one round trip of a network store."""

    def __init__(self, **entries: Any) -> None:
        self.inner: MemoryStorage[Any] = MemoryStorage(entries)
        self.calls: list[str] = []
        self.lose_next = False
        self.lease_ms: list[int] = []

    async def get(self, key: str) -> Any:
        self.calls.append("get")
        return await self.inner.get(key)

    async def set(self, key: str, value: Any) -> None:
        self.calls.append("set")
        await self.inner.set(key, value)

    async def delete(self, key: str) -> None:
        self.calls.append("delete")
        await self.inner.delete(key)

    async def has(self, key: str) -> bool:
        self.calls.append("has")
        return await self.inner.has(key)

    @asynccontextmanager
    async def lock(self, key: str, *, lease_ms: int = 30_000) -> AsyncIterator[FakeLease]:
        self.calls.append("lock")  # acquire and read: one round trip
        self.lease_ms.append(lease_ms)
        lease = FakeLease(self, key)
        lease.lost, self.lose_next = self.lose_next, False
        try:
            yield lease
        finally:
            await lease.release()


class TtlLeaseCounting(LeaseCounting):
    async def touch(self, key: str) -> None:
        self.calls.append("touch")

    async def get_and_touch(self, key: str) -> Any:
        self.calls.append("get_and_touch")
        return await self.inner.get(key)


CASES = [
    # (store, record before, handler, calls): never a get, set, delete, has or touch
    (LeaseCounting, True, read, ["lock", "release"]),
    (LeaseCounting, True, bump, ["lock", "save"]),
    (LeaseCounting, True, clear, ["lock", "remove"]),
    (LeaseCounting, False, read, ["lock", "release"]),
    (LeaseCounting, False, bump, ["lock", "save"]),
    (LeaseCounting, True, fail, ["lock", "release"]),
    (TtlLeaseCounting, True, read, ["lock", "release+touch"]),  # the touch rides along
    (TtlLeaseCounting, True, bump, ["lock", "save"]),
    (TtlLeaseCounting, True, clear, ["lock", "remove"]),
    (TtlLeaseCounting, False, read, ["lock", "release"]),  # nothing stored: no touch
    (TtlLeaseCounting, True, fail, ["lock", "release"]),
]


@pytest.mark.parametrize(
    ("store_type", "existing", "handler", "calls"),
    CASES,
    ids=[f"{c[0].__name__}-{'existing' if c[1] else 'new'}-{c[2].__name__}" for c in CASES],
)
async def test_two_round_trips_per_update_under_a_lease(
    store_type: type[LeaseCounting], existing: bool, handler: Any, calls: list[str]
) -> None:
    store = store_type(**({"1": {"counter": 1}} if existing else {}))
    mw = session(storage=store)
    try:
        await run(mw, Update(1), handler)
    except LookupError:
        assert handler is fail
    assert store.calls == calls
    assert store.lease_ms == [30_000]


async def test_process_isolation_never_takes_a_lease() -> None:
    store = TtlLeaseCounting(**{"1": {"counter": 1}})
    mw = session(storage=store, isolation="process")
    await run(mw, Update(1), read)
    await run(mw, Update(1), bump)
    assert store.calls == ["get_and_touch", "get_and_touch", "set"]


async def test_lease_ms_is_passed_to_the_lock() -> None:
    store = LeaseCounting()
    await run(session(storage=store, lease_ms=1_500), Update(1), read)
    assert store.lease_ms == [1_500]


async def test_a_save_refused_with_lease_lost_propagates_and_writes_nothing() -> None:
    store = LeaseCounting(**{"1": {"counter": 1}})
    store.lose_next = True
    with pytest.raises(LeaseLostError, match="the lease on key '1' was lost") as info:
        await run(session(storage=store), Update(1), bump)
    assert info.value.key == "1"
    assert store.inner._data == {"1": {"counter": 1}}


async def test_a_remove_refused_with_lease_lost_propagates_and_deletes_nothing() -> None:
    store = LeaseCounting(**{"1": {"counter": 1}})
    store.lose_next = True
    with pytest.raises(LeaseLostError):
        await run(session(storage=store), Update(1), clear)
    assert store.inner._data == {"1": {"counter": 1}}


# -- the in-memory lease -----------------------------------------------------------------


@pytest.mark.parametrize("make_store", [MemoryStorage, lambda: LruMemoryStorage(max=10)])
async def test_the_default_over_a_memory_store_is_the_stores_lease(make_store: Any) -> None:
    assert session(storage=make_store()).isolation == "store"
    assert session().isolation == "store"
    plain = session(storage=LeaseCounting(), isolation="process")
    assert plain.isolation == "process"


async def test_two_middlewares_on_one_store_keep_all_100_overlapping_updates() -> None:
    """F24: each middleware has its own in-process lock table, but they share the store,
    and so its lease on the key."""
    store = YieldingStorage()
    first, second = session(storage=store), session(storage=store)
    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(run, first if i % 2 else second, Update(1), bump)
    assert await store.get("1") == {"counter": 100}
    assert len(store._leases) == 0


async def test_a_handler_that_raises_saves_nothing_and_the_next_update_runs_at_once() -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": {"counter": 1}})
    mw = session(storage=store)  # the default lease_ms: 30 s, far beyond the margin below
    with pytest.raises(LookupError):
        await run(mw, Update(1), fail)
    assert store._data == {"1": {"counter": 1}}
    assert len(store._leases) == 0
    with anyio.fail_after(5):  # released: the next update does not wait out the lease
        await run(mw, Update(1), bump)
    assert store._data == {"1": {"counter": 2}}


async def test_a_cancelled_update_releases_the_lease() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store)
    started = anyio.Event()

    async def hang(context: Any) -> None:
        started.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, mw, Update(1), hang)
        await started.wait()
        tg.cancel_scope.cancel()
    assert len(store._leases) == 0
    assert store.size == 0


async def test_a_handler_that_outlives_its_lease_loses_the_save_to_the_next_holder() -> None:
    """No sleep-and-hope: the second update can take the key only once the first one's
    lease has expired, and the first saves only after the second has saved."""
    store: MemoryStorage[Any] = MemoryStorage({"1": {"counter": 1}})
    mw = session(storage=store, lease_ms=20)
    holding, took_over = anyio.Event(), anyio.Event()
    errors: list[BaseException] = []

    async def slow(context: Any) -> None:
        context.session.counter = 100
        holding.set()
        await took_over.wait()  # outlives lease_ms: the other update has the key now

    async def first() -> None:
        try:
            await run(mw, Update(1), slow)
        except LeaseLostError as error:
            errors.append(error)

    async def fast(context: Any) -> None:
        assert context.session.counter == 1  # the slow update saved nothing
        context.session.counter = 2

    async def second() -> None:
        await run(mw, Update(1), fast)
        took_over.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await holding.wait()  # the first update holds the lease
            tg.start_soon(second)
    assert [type(error) for error in errors] == [LeaseLostError]
    assert store._data == {"1": {"counter": 2}}
    assert len(store._leases) == 0


class Plain:
    """A ``KVStorage`` without ``lock``."""

    async def get(self, key: str) -> Any:
        return None

    async def set(self, key: str, value: Any) -> None:
        pass

    async def delete(self, key: str) -> None:
        pass

    async def has(self, key: str) -> bool:
        return False


async def test_isolation_store_needs_a_lock_storage() -> None:
    with pytest.raises(TypeError, match=r"session\(isolation='store'\) needs a store with lock"):
        session(storage=Plain(), isolation="store")
    assert session(storage=Plain()).isolation == "process"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"isolation": "shared"}, ValueError, r"session\(isolation=...\) must be 'store'"),
        ({"isolation": True}, TypeError, r"session\(isolation=...\)"),
        ({"lease_ms": 0}, ValueError, "session option 'lease_ms' must be from 1"),
        ({"lease_ms": 10**15 + 1}, ValueError, "session option 'lease_ms'"),
        ({"lease_ms": 1.5}, TypeError, "session option 'lease_ms' must be a whole number"),
        ({"lease_ms": True}, TypeError, "session option 'lease_ms'"),
    ],
    ids=repr,
)
def test_bad_isolation_and_lease_ms_name_the_option(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        session(**options)
