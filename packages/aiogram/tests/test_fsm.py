"""``FsmStorage`` and ``EventIsolation`` on their own, over every store (a Redis Cluster
included): formats, errors, ttl, keys."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey

from puregram.aiogram import EventIsolation, FsmKeyBuilder, FsmStorage
from puregram.storage import ForeignValueError, KVStorage, MemoryStorage

pytestmark = pytest.mark.anyio
EVERY = pytest.mark.parametrize("kind", ["memory", "sqlite", "redis", "redis-cluster"])

KEY = StorageKey(bot_id=42, chat_id=-100, user_id=7)


@EVERY
async def test_state_and_data_round_trip(kind: str, store: KVStorage[Any]) -> None:
    fsm = FsmStorage(store, close_storage=False)
    assert await fsm.get_state(KEY) is None
    assert await fsm.get_data(KEY) == {}
    await fsm.set_state(KEY, State("name", group_name="Form"))
    await fsm.set_data(KEY, {"name": "Ann", "tags": [1, 2]})
    assert await fsm.get_state(KEY) == "Form:name"
    assert await fsm.update_data(KEY, {"age": 30}) == {"name": "Ann", "tags": [1, 2], "age": 30}
    assert await fsm.get_value(KEY, "age") == 30
    assert await store.get("fsm:-100:7:state") == "Form:name"
    assert await store.get("fsm:-100:7:data") == {"name": "Ann", "tags": [1, 2], "age": 30}
    await fsm.set_state(KEY, None)
    await fsm.set_data(KEY, {})
    assert not await store.has("fsm:-100:7:state")
    assert not await store.has("fsm:-100:7:data")


@EVERY
async def test_a_foreign_value_is_refused_and_kept(kind: str, store: KVStorage[Any]) -> None:
    fsm = FsmStorage(store, close_storage=False)
    await store.set("fsm:-100:7:state", {"not": "a state"})
    await store.set("fsm:-100:7:data", ["not", "data"])
    with pytest.raises(ForeignValueError, match="fsm:-100:7:state"):
        await fsm.get_state(KEY)
    with pytest.raises(ForeignValueError, match="fsm:-100:7:data"):
        await fsm.get_data(KEY)
    assert await store.get("fsm:-100:7:data") == ["not", "data"]


@EVERY
async def test_bad_data_raises_and_leaves_the_store_unchanged(
    kind: str, store: KVStorage[Any]
) -> None:
    fsm = FsmStorage(store, close_storage=False)
    await fsm.set_data(KEY, {"ok": 1})
    with pytest.raises(DataNotDictLikeError, match="fsm:-100:7:data"):
        await fsm.set_data(KEY, [("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fsm:-100:7:data"):
        await fsm.set_data(KEY, {"bad": {1, 2}})
    with pytest.raises(TypeError, match="fsm:-100:7:state"):
        await fsm.set_state(KEY, 5)  # type: ignore[arg-type]
    assert await fsm.get_data(KEY) == {"ok": 1}


@pytest.mark.parametrize("wrapped", [False, True], ids=["memory", "enhanced-memory"])
async def test_memory_stores_keep_a_copy(wrapped: bool) -> None:
    from puregram.storage import enhance_storage

    store: Any = MemoryStorage[Any]()
    fsm = FsmStorage(enhance_storage(store) if wrapped else store)
    data: dict[str, Any] = {"items": [1]}
    await fsm.set_data(KEY, data)
    data["items"].append(2)
    got = await fsm.get_data(KEY)
    got["items"].append(3)
    assert await fsm.get_data(KEY) == {"items": [1]}


def test_the_default_keys_are_aiograms() -> None:
    ours, theirs = FsmKeyBuilder(), DefaultKeyBuilder()
    topic = StorageKey(bot_id=1, chat_id=-5, user_id=7, thread_id=3)
    business = StorageKey(bot_id=1, chat_id=-5, user_id=7, business_connection_id="bc")
    for options in (
        {},
        {"prefix": "p", "separator": "/"},
        {"with_bot_id": True},
        {"with_business_connection_id": True},
        {"with_destiny": True},
    ):
        ours, theirs = FsmKeyBuilder(**options), DefaultKeyBuilder(**options)
        for key in (KEY, topic, business):
            for part in ("state", "data", "lock", None):
                assert ours.build(key, part) == theirs.build(key, part)
    ours = FsmKeyBuilder()
    dialog = StorageKey(bot_id=1, chat_id=-5, user_id=7, destiny="aiogd:stack")
    assert ours.build(dialog, "data") == "fsm:-5:7:aiogd:stack:data"
    with pytest.raises(ValueError, match="destiny"):
        ours.build(StorageKey(bot_id=1, chat_id=-5, user_id=7, destiny="12"), "data")


async def test_a_custom_key_builder_is_used() -> None:
    store = MemoryStorage[Any]()
    fsm = FsmStorage(store, key_builder=DefaultKeyBuilder(prefix="bot", with_bot_id=True))
    await fsm.set_state(KEY, "S:x")
    assert await store.get("bot:42:-100:7:state") == "S:x"


def test_bad_options_name_themselves() -> None:
    with pytest.raises(TypeError, match="KVStorage"):
        FsmStorage(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key_builder"):
        FsmStorage(MemoryStorage(), key_builder="fsm")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lease_ms"):
        EventIsolation(MemoryStorage(), lease_ms=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lease_ms"):
        EventIsolation(MemoryStorage(), lease_ms=0)


@pytest.mark.parametrize("kind", ["redis"])
async def test_the_redis_ttl_slides_on_every_read(
    kind: str, request: pytest.FixtureRequest
) -> None:
    import uuid

    from redis.asyncio import Redis

    from puregram.storage_redis import RedisStorage

    client = Redis.from_url(str(request.getfixturevalue("redis_url")))
    prefix = f"ttl:{uuid.uuid4().hex[:8]}:"
    try:
        fsm = FsmStorage(RedisStorage(client=client, prefix=prefix, ttl_ms=60_000))
        await fsm.set_state(KEY, "S:x")
        await fsm.set_data(KEY, {"a": 1})
        for part in ("state", "data"):
            await client.pexpire(f"{prefix}fsm:-100:7:{part}", 1_000)
        assert await fsm.get_state(KEY) == "S:x"  # rolls the state and the data forward
        for part in ("state", "data"):
            assert await client.pttl(f"{prefix}fsm:-100:7:{part}") > 50_000
    finally:
        await client.aclose()


@pytest.mark.parametrize("kind", ["sqlite"])
async def test_close_closes_the_store_unless_told_not_to(kind: str, store: Any) -> None:
    await FsmStorage(store, close_storage=False).close()
    assert await store.get("x") is None  # still open
    fsm = FsmStorage(store)
    await fsm.close()
    await fsm.close()  # twice is fine
    with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's own "closed" error
        await store.get("x")


@EVERY
async def test_event_isolation_excludes_per_key(kind: str, store: KVStorage[Any]) -> None:
    import asyncio

    isolation = EventIsolation(store)
    assert isolation.cross_process  # every store here has leases (memory: per instance)
    inside: list[int] = []
    overlaps: list[int] = []

    async def update(n: int) -> None:
        async with isolation.lock(KEY):
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            await asyncio.sleep(0.001)
            inside.remove(n)

    await asyncio.gather(*(update(n) for n in range(10)))
    assert overlaps == []
    assert not await store.has("fsm:-100:7:lock")  # the lease writes no value


async def test_in_process_isolation_drops_unused_keys() -> None:
    class Plain:  # a store without lock(): the in-process fallback
        def __init__(self) -> None:
            self.inner = MemoryStorage[Any]()

        async def get(self, key: str) -> Any:
            return await self.inner.get(key)

        async def set(self, key: str, value: Any) -> None:
            await self.inner.set(key, value)

        async def delete(self, key: str) -> None:
            await self.inner.delete(key)

        async def has(self, key: str) -> bool:
            return await self.inner.has(key)

    isolation = EventIsolation(Plain())
    assert not isolation.cross_process
    for user in range(100):
        async with isolation.lock(StorageKey(bot_id=1, chat_id=user, user_id=user)):
            pass
    assert len(isolation._leases) == 0
