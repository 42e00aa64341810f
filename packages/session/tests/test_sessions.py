"""``middleware.sessions``: reading and changing sessions outside an update.

``get(key)`` is a copy (``None`` when there is none); ``edit(key)`` holds the key as an
update does (the store's lease over ``MemoryStorage``, the middleware's lock with
``isolation="process"``), so edits overlapping with updates for the same key lose nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from puregram.session import (
    CorruptValueError,
    ForeignValueError,
    LeaseLostError,
    Session,
    by_user_in_chat,
    session,
    ttl,
)
from puregram.storage import MemoryStorage
from tools.stores import YieldingStorage

pytestmark = pytest.mark.anyio


class Update:
    def __init__(self, sender_id: object = 1, chat_id: object = None) -> None:
        self.sender_id = sender_id
        self.chat_id = chat_id
        self.session: Any = None


async def bump(mw: Any, context: Any) -> None:
    async def handler() -> None:
        value = context.session.get("counter", 0)
        await anyio.lowlevel.checkpoint()  # a read-modify-write across a checkpoint
        context.session.counter = value + 1

    await mw(context, handler)


async def edit_counter(mw: Any) -> None:
    """``bump`` through ``mw.sessions.edit`` (a cron job, say) instead of an update."""
    async with mw.sessions.edit("1") as current:
        value = current.get("counter", 0)
        await anyio.lowlevel.checkpoint()
        current.counter = value + 1


@pytest.fixture(params=["store", "process"])
def isolation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(isolation: str, **options: Any) -> tuple[Any, MemoryStorage[Any]]:
    store: MemoryStorage[Any] = YieldingStorage()  # a checkpoint in every call
    return session(storage=store, isolation=isolation, **options), store  # type: ignore[arg-type]


async def test_get_is_a_copy_or_none(isolation: str) -> None:
    mw, store = make(isolation)
    assert await mw.sessions.get("1") is None
    await bump(mw, Update(1))
    snapshot = await mw.sessions.get("1")
    assert snapshot == {"counter": 1}
    assert type(snapshot) is dict
    snapshot["counter"] = 100  # changes nothing
    assert await store.get("1") == {"counter": 1}


async def test_get_leaves_out_expired_keys_and_the_metadata() -> None:
    now = [1_000]
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, clock=lambda: now[0])
    await store.set("1", {"a": 1, "code": "x", "__ttl": {"code": {"t": 100, "at": 1_000}}})
    assert await mw.sessions.get("1") == {"a": 1, "code": "x"}
    now[0] = 1_101
    assert await mw.sessions.get("1") == {"a": 1}
    await store.set("2", {"code": "x", "__ttl": {"code": {"t": 100, "at": 1_000}}})
    assert await mw.sessions.get("2") is None  # nothing left: as missing
    # a read does not change the record
    assert await store.get("1") == {"a": 1, "code": "x", "__ttl": {"code": {"t": 100, "at": 1_000}}}


async def test_get_and_edit_take_a_descriptor() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, get_storage_key=by_user_in_chat)
    await bump(mw, Update(42, -100))
    assert await mw.sessions.get({"user": 42, "chat": -100}) == {"counter": 1}
    async with mw.sessions.edit({"chat": -100, "user": 42}) as current:
        current.counter += 10
    assert await store.get("user:42:chat:-100") == {"counter": 11}


async def test_bad_keys() -> None:
    mw = session()
    bad: Any
    for bad, error, match in [
        ("", ValueError, r"sessions.get\(key\): the key is empty"),
        ({"user": None}, ValueError, r"sessions.get\(key\): the key is empty"),
        (None, TypeError, r"sessions.get\(key\): key must be a str or a mapping, got None"),
        (42, TypeError, r"sessions.get\(key\) must return a str"),
        ({"usr": 1}, ValueError, r"sessions.get\(key\): unknown key part 'usr'"),
    ]:
        with pytest.raises(error, match=match):
            await mw.sessions.get(bad)
    with pytest.raises(ValueError, match=r"sessions.edit\(key\): the key is empty"):
        mw.sessions.edit("")


async def test_get_of_a_foreign_or_corrupt_record() -> None:
    store: MemoryStorage[Any] = MemoryStorage({"a": [1, 2], "b": {"x": {1, 2}}})
    mw = session(storage=store)
    with pytest.raises(ForeignValueError, match="is an array in JSON"):
        await mw.sessions.get("a")
    with pytest.raises(CorruptValueError):
        await mw.sessions.get("b")


async def test_edit_saves_like_an_update(isolation: str) -> None:
    now = [1_000]
    mw, store = make(isolation, clock=lambda: now[0])
    async with mw.sessions.edit("1") as current:
        assert isinstance(current, Session)
        assert dict(current) == {}  # a missing session starts empty
        current.news = ttl("hello", 500)
        current.seen = []
    assert await store.get("1") == {
        "news": "hello",
        "seen": [],
        "__ttl": {"news": {"t": 500, "at": 1_000}},
    }
    async with mw.sessions.edit("1") as current:
        current.seen.append(1)  # a change at any depth
    assert await store.get("1") == {
        "news": "hello",
        "seen": [1],
        "__ttl": {"news": {"t": 500, "at": 1_000}},
    }
    now[0] = 2_000
    async with mw.sessions.edit("1") as current:
        assert "news" not in current
    assert await store.get("1") == {"seen": [1]}
    async with mw.sessions.edit("1") as current:
        current.clear()
    assert await store.has("1") is False


async def test_an_unchanged_edit_writes_nothing(isolation: str) -> None:
    mw, store = make(isolation)
    await store.set("1", {"a": 1})
    record = await store.get("1")
    async with mw.sessions.edit("1") as current:
        _ = current.a
    assert await store.get("1") is record  # not even rewritten with an equal value


async def test_an_exception_in_edit_saves_nothing(isolation: str) -> None:
    class Handled(Exception):
        pass

    mw, store = make(isolation, handled=(Handled,))
    await store.set("1", {"a": 1})
    for error in (LookupError, Handled):  # handled= is for handlers: an edit saves nothing
        with pytest.raises(error):  # noqa: PT012
            async with mw.sessions.edit("1") as current:
                current.a = 2
                raise error
        assert await store.get("1") == {"a": 1}
    async with mw.sessions.edit("1") as current:  # the key was let go
        current.a = 3
    assert await store.get("1") == {"a": 3}


async def test_edit_overlapping_with_updates_loses_nothing(isolation: str) -> None:
    mw, store = make(isolation)

    async with anyio.create_task_group() as group:
        for i in range(30):
            group.start_soon(bump, mw, Update(1))
            group.start_soon(edit_counter, mw)
            if i % 3 == 0:
                group.start_soon(bump, mw, Update(2))  # another key runs alongside
    assert await store.get("1") == {"counter": 60}
    assert await store.get("2") == {"counter": 10}


async def test_edit_and_lazy_updates_overlap(isolation: str) -> None:
    mw, store = make(isolation, lazy=True)

    async def lazy_bump() -> None:
        context = Update(1)

        async def handler() -> None:
            current = await context.session
            value = current.get("counter", 0)
            await anyio.lowlevel.checkpoint()
            current.counter = value + 1

        await mw(context, handler)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(lazy_bump)
            group.start_soon(edit_counter, mw)
    assert await store.get("1") == {"counter": 40}


async def test_two_middlewares_on_one_store_share_the_lease() -> None:
    """With the store's lease, an edit through one middleware excludes updates through
    another on the same store (two routers, or a cron job with its own middleware)."""
    store: MemoryStorage[Any] = YieldingStorage()
    bot, cron = session(storage=store), session(storage=store)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(bump, bot, Update(1))
            group.start_soon(edit_counter, cron)
    assert await store.get("1") == {"counter": 40}


async def test_an_edit_that_outlives_its_lease_is_refused() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, lease_ms=1)
    await store.set("1", {"a": 1})
    with pytest.raises(LeaseLostError):  # noqa: PT012
        async with mw.sessions.edit("1") as current:
            current.a = 2
            await anyio.sleep(0.05)  # 50x the lease: it has certainly expired
            await bump(mw, Update(1))  # another update takes the key meanwhile
    assert await store.get("1") == {"a": 1, "counter": 1}


async def test_the_middleware_is_still_callable() -> None:
    mw = session()
    context = Update(1)

    async def handler() -> None:
        context.session.x = 1

    await mw(context, handler)
    assert await mw.sessions.get("1") == {"x": 1}
    assert mw.sessions.get is not None


async def test_edit_and_updates_over_two_connections_to_one_sqlite_file(
    tmp_path: Path,
) -> None:
    """Two stores on one real SQLite file (two connections, as two bot processes): an
    edit through one and updates through the other hold the same lease per key."""
    from puregram.storage_sqlite import SqliteStorage

    path = tmp_path / "bot.db"
    async with SqliteStorage.open(path) as one, SqliteStorage.open(path) as other:
        bot, cron = session(storage=one), session(storage=other)
        assert bot.isolation == cron.isolation == "store"

        async with anyio.create_task_group() as group:
            for _ in range(15):
                group.start_soon(bump, bot, Update(1))
                group.start_soon(edit_counter, cron)
        assert await one.get("1") == {"counter": 30}
        assert await cron.sessions.get("1") == {"counter": 30}


class TouchCounting(MemoryStorage[Any]):
    """A ``MemoryStorage`` that also has ``touch`` and ``get_and_touch`` (as Redis and
    SQLite do), and records which of the reads the middleware uses."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def get(self, key: str) -> Any:
        self.calls.append("get")
        return await super().get(key)

    async def get_and_touch(self, key: str) -> Any:
        self.calls.append("get_and_touch")
        return await super().get(key)

    async def touch(self, key: str) -> None:
        self.calls.append("touch")


async def test_get_never_rolls_the_ttl() -> None:
    store = TouchCounting()
    mw = session(storage=store, isolation="process")
    await store.set("1", {"a": 1})
    assert await mw.sessions.get("1") == {"a": 1}
    assert store.calls == ["get"]
