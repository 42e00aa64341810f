"""``session(lazy=True)``: ``await context.session`` reads the store on first use only.

``Counting`` wraps a real ``MemoryStorage`` and records every call the middleware makes
on it (``lock`` included), so "no store call" is counted, not assumed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from puregram.session import (
    CorruptValueError,
    ForeignValueError,
    LazySession,
    NoSessionError,
    Session,
    session,
    ttl,
)
from puregram.storage import Lease, MemoryStorage

pytestmark = pytest.mark.anyio


class Counting:
    """A ``KVStorage`` over a ``MemoryStorage`` that records each call by name."""

    def __init__(self, store: MemoryStorage[Any] | None = None) -> None:
        self.store: MemoryStorage[Any] = store if store is not None else MemoryStorage()
        self.calls: list[str] = []

    async def get(self, key: str) -> Any:
        self.calls.append("get")
        return await self.store.get(key)

    async def set(self, key: str, value: Any) -> None:
        self.calls.append("set")
        await self.store.set(key, value)

    async def delete(self, key: str) -> None:
        self.calls.append("delete")
        await self.store.delete(key)

    async def has(self, key: str) -> bool:
        self.calls.append("has")
        return await self.store.has(key)


class CountingLocks(Counting):
    """The same, with the store's lease: a ``LockStorage``."""

    @asynccontextmanager
    async def lock(self, key: str, *, lease_ms: int = 30_000) -> AsyncIterator[Lease[Any]]:
        self.calls.append("lock")
        async with self.store.lock(key, lease_ms=lease_ms) as lease:
            yield lease


def stores() -> list[Counting]:
    return [Counting(), CountingLocks()]


class Update:
    def __init__(self, sender_id: object = 1) -> None:
        self.sender_id = sender_id
        self.session: Any = None


async def bump(context: Any) -> None:
    current = await context.session
    value = current.get("counter", 0)
    await anyio.lowlevel.checkpoint()
    current.counter = value + 1


async def run(mw: Any, context: Any, handler: Any) -> None:
    async def next_() -> None:
        await handler(context)

    await mw(context, next_)


@pytest.fixture(params=["process", "store"])
def isolation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(isolation: str, **options: Any) -> tuple[Any, Counting]:
    store: Counting = Counting() if isolation == "process" else CountingLocks()
    return session(storage=store, lazy=True, isolation=isolation, **options), store  # type: ignore[arg-type]


async def test_never_awaited_costs_no_store_call(isolation: str) -> None:
    mw, store = make(isolation)
    await store.store.set("1", {"counter": 5})
    seen: list[object] = []

    async def ignore(context: Any) -> None:
        seen.append(context.session)

    for _ in range(3):
        await run(mw, Update(1), ignore)
    assert store.calls == []
    assert all(isinstance(handle, LazySession) for handle in seen)
    assert await store.store.get("1") == {"counter": 5}


async def test_awaited_loads_once_and_saves(isolation: str) -> None:
    mw, store = make(isolation)
    got: list[Session] = []

    async def handler(context: Any) -> None:
        first = await context.session
        second = await context.session
        assert first is second
        got.append(first)
        first.counter = 1

    await run(mw, Update(1), handler)
    assert await store.store.get("1") == {"counter": 1}
    # one read (the lease carries it) and one write
    assert store.calls == (["get", "has", "set"] if isolation == "process" else ["lock"])
    await run(mw, Update(1), bump)
    assert await store.store.get("1") == {"counter": 2}


async def test_concurrent_awaits_in_one_handler_share_one_load(isolation: str) -> None:
    mw, store = make(isolation)
    sessions: list[Session] = []

    async def handler(context: Any) -> None:
        async def one() -> None:
            sessions.append(await context.session)

        async with anyio.create_task_group() as group:
            group.start_soon(one)
            group.start_soon(one)
        sessions[0].n = 1

    await run(mw, Update(1), handler)
    assert sessions[0] is sessions[1]
    assert await store.store.get("1") == {"n": 1}
    assert store.calls.count("get") + store.calls.count("lock") == 1


async def test_overlapping_lazy_updates_lose_nothing(isolation: str) -> None:
    mw, store = make(isolation)
    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(run, mw, Update(1), bump)
    assert await store.store.get("1") == {"counter": 20}


async def test_the_key_is_held_from_the_first_await_to_after_the_handler(isolation: str) -> None:
    """A second update for the key waits while the first holds it, and not before."""
    mw, store = make(isolation)
    order: list[str] = []
    awaited, release = anyio.Event(), anyio.Event()

    async def slow(context: Any) -> None:
        order.append("slow starts")  # not holding the key yet
        await anyio.lowlevel.checkpoint()
        current = await context.session
        awaited.set()
        await release.wait()
        current.counter = 10
        order.append("slow ends")

    async def fast(context: Any) -> None:
        order.append("fast starts")
        current = await context.session
        order.append(f"fast sees {current.get('counter')}")
        current.counter += 1

    async with anyio.create_task_group() as group:
        group.start_soon(run, mw, Update(1), slow)
        await awaited.wait()
        group.start_soon(run, mw, Update(1), fast)
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        order.append("released")
        release.set()
    assert order == ["slow starts", "fast starts", "released", "slow ends", "fast sees 10"]
    assert await store.store.get("1") == {"counter": 11}


async def test_an_exception_saves_nothing_and_releases(isolation: str) -> None:
    mw, store = make(isolation)
    await store.store.set("1", {"counter": 1})

    async def fail(context: Any) -> None:
        (await context.session).counter = 100
        raise LookupError

    with pytest.raises(LookupError):
        await run(mw, Update(1), fail)
    assert await store.store.get("1") == {"counter": 1}
    await run(mw, Update(1), bump)  # the key was let go
    assert await store.store.get("1") == {"counter": 2}

    store.calls.clear()

    async def fail_early(context: Any) -> None:
        raise LookupError

    with pytest.raises(LookupError):
        await run(mw, Update(1), fail_early)
    assert store.calls == []


class Handled(Exception):
    pass


async def test_handled_saves_then_propagates(isolation: str) -> None:
    mw, store = make(isolation, handled=(Handled,))

    async def stop(context: Any) -> None:
        (await context.session).counter = 7
        raise Handled

    with pytest.raises(Handled):
        await run(mw, Update(1), stop)
    assert await store.store.get("1") == {"counter": 7}

    store.calls.clear()

    async def stop_early(context: Any) -> None:
        raise Handled

    with pytest.raises(Handled):
        await run(mw, Update(1), stop_early)
    assert store.calls == []  # never awaited: nothing to save

    async def replace_and_stop(context: Any) -> None:
        context.session = {"replaced": True}
        raise Handled

    with pytest.raises(Handled):
        await run(mw, Update(1), replace_and_stop)
    assert await store.store.get("1") == {"replaced": True}


async def test_replacing_or_dropping_without_awaiting(isolation: str) -> None:
    mw, store = make(isolation)

    async def replace(context: Any) -> None:
        context.session = {"a": 1}

    async def drop(context: Any) -> None:
        context.session = None

    await run(mw, Update(1), replace)
    assert await store.store.get("1") == {"a": 1}
    await run(mw, Update(1), drop)
    assert await store.store.has("1") is False


async def test_ttl_in_a_lazy_session(isolation: str) -> None:
    now = [1_000]
    mw, store = make(isolation, clock=lambda: now[0])

    async def mark(context: Any) -> None:
        (await context.session).code = ttl("1234", 500)

    got: list[object] = []

    async def look(context: Any) -> None:
        got.append((await context.session).get("code"))

    await run(mw, Update(1), mark)
    assert await store.store.get("1") == {"code": "1234", "__ttl": {"code": {"t": 500, "at": 1000}}}
    now[0] = 1_500
    await run(mw, Update(1), look)
    now[0] = 1_501
    await run(mw, Update(1), look)
    assert got == ["1234", None]
    assert await store.store.has("1") is False  # only metadata was left: deleted


async def test_errors_of_the_load_surface_at_the_await(isolation: str) -> None:
    mw, store = make(isolation)
    await store.store.set("1", ["not", "a", "session"])
    await store.store.set("2", {"bad": {1, 2}})
    caught: list[type[BaseException]] = []

    async def handler(context: Any) -> None:
        for _ in range(2):  # the same error every time
            try:
                await context.session
            except (ForeignValueError, CorruptValueError) as error:
                caught.append(type(error))

    await run(mw, Update(1), handler)
    await run(mw, Update(2), handler)
    assert caught == [ForeignValueError] * 2 + [CorruptValueError] * 2
    await run(mw, Update(3), bump)  # the middleware still works
    assert await store.store.get("1") == ["not", "a", "session"]


async def test_use_without_await_is_a_clear_type_error(isolation: str) -> None:
    mw, _ = make(isolation)
    errors: list[str] = []

    async def handler(context: Any) -> None:
        try:
            _ = context.session.counter
        except TypeError as error:
            errors.append(str(error))
        try:
            _ = context.session["counter"]
        except TypeError as error:
            errors.append(str(error))

    await run(mw, Update(1), handler)
    assert errors == [
        "session(lazy=True): context.session is an awaitable; use (await context.session).counter",
        "session(lazy=True): context.session is an awaitable; use "
        "(await context.session)['counter']",
    ]


async def test_no_key_raises_at_the_await(isolation: str) -> None:
    mw, store = make(isolation)
    errors: list[str] = []

    async def handler(context: Any) -> None:
        try:
            await context.session
        except NoSessionError as error:
            errors.append(str(error))

    await run(mw, Update(None), handler)
    assert errors == [
        "this update has no session: context.sender_id is None, so there is nowhere to keep one"
    ]
    assert store.calls == []


def test_lazy_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"session\(lazy=...\) must be True or False, got 1"):
        session(lazy=1)  # type: ignore[arg-type]
    assert session(lazy=True).lazy is True
    assert session().lazy is False


async def test_awaited_then_replaced(isolation: str) -> None:
    mw, store = make(isolation)
    await store.store.set("1", {"a": 1})

    async def replace(context: Any) -> None:
        current = await context.session
        assert current.a == 1
        context.session = {"b": 2}

    await run(mw, Update(1), replace)
    assert await store.store.get("1") == {"b": 2}

    async def drop(context: Any) -> None:
        await context.session
        context.session = None

    await run(mw, Update(1), drop)
    assert await store.store.has("1") is False
