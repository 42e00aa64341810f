"""Bad input: options through the core checker, hostile str subclasses, lone surrogates.

Every case is refused before anything is sent, and the server is checked to hold nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from puregram.storage import MAX_MS
from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio


# --- options -----------------------------------------------------------------------


@pytest.mark.parametrize("ttl_ms", [2**63 - 1, MAX_MS + 1])
async def test_ttl_ms_too_large_is_refused_at_construction(client: Redis, ttl_ms: int) -> None:
    with pytest.raises(ValueError, match="ttl_ms"):
        RedisStorage(client=client, ttl_ms=ttl_ms)


async def test_ttl_ms_takes_whole_float_milliseconds(client: Redis) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, ttl_ms=1_000.0)  # type: ignore[arg-type]
    assert store.ttl_ms == 1_000
    assert type(store.ttl_ms) is int
    assert RedisStorage(client=client, ttl_ms=MAX_MS).ttl_ms == MAX_MS


@pytest.mark.parametrize("window_ms", [1.5, True, "1", None])
async def test_count_hit_window_ms_type_is_checked(client: Redis, window_ms: Any) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client)
    with pytest.raises(TypeError, match="window_ms"):
        await store.count_hit("k", window_ms)


@pytest.mark.parametrize("window_ms", [0, -1, MAX_MS + 1, 2**63])
async def test_count_hit_window_ms_range_is_checked(client: Redis, window_ms: int) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client)
    with pytest.raises(ValueError, match="window_ms"):
        await store.count_hit("k", window_ms)


async def test_a_prefix_with_a_lone_surrogate_is_refused(client: Redis) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisStorage(client=client, prefix="bot\ud800:")


class _Tagged(str):
    """A harmless str subclass (as an ``enum.StrEnum`` member would be)."""


async def test_a_str_subclass_prefix_is_kept_as_an_exact_str(client: Redis) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=_Tagged("bot:"))
    assert type(store.key_prefix) is str
    assert store.key_prefix == "bot:"


# --- hostile str subclasses (F23) ------------------------------------------------------


class _Escaping(str):
    """A str subclass that tries to build a Redis name outside the store's prefix."""

    def __add__(self, other: object) -> str:
        return "outside:" + str.__str__(self)

    def __radd__(self, other: object) -> str:
        return "outside:" + str.__str__(self)

    def __str__(self) -> str:
        return "outside:str"

    def __format__(self, spec: str) -> str:
        return "outside:format"


async def test_a_hostile_key_cannot_write_outside_the_prefix(
    any_client: Redis | RedisCluster, prefix: str
) -> None:
    store: RedisStorage[Any] = RedisStorage(client=any_client, prefix=prefix, ttl_ms=60_000)
    key = _Escaping("k")
    await store.set(key, 1)
    assert await store.get(key) == 1
    assert await store.has(key)
    await store.touch(key)
    assert await store.get_and_touch(key) == 1
    assert await any_client.exists(prefix + "k") == 1
    assert await any_client.exists("outside:k", "outside:str", "outside:format") == 0
    hits, reset_at = await store.count_hit(_Escaping("hits"), 60_000)
    assert await store.get("hits") == {"hits": hits, "resetAt": reset_at}
    assert await any_client.exists("outside:hits") == 0
    assert sorted([k async for k in store.keys()]) == ["hits", "k"]
    assert all(type(k) is str for k in [k async for k in store.keys()])
    await store.delete(key)
    await store.delete(_Escaping("hits"))
    assert [k async for k in store.keys()] == []


async def test_a_hostile_prefix_cannot_move_the_store(
    any_client: Redis | RedisCluster, prefix: str
) -> None:
    store: RedisStorage[Any] = RedisStorage(client=any_client, prefix=_Escaping(prefix))
    assert type(store.key_prefix) is str
    await store.set("k", 1)
    assert await any_client.exists(prefix + "k") == 1
    assert [k async for k in store.keys()] == ["k"]
    await store.delete("k")
    assert await any_client.exists(prefix + "k") == 0


async def test_errors_name_the_exact_key(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    with pytest.raises(TypeError, match=r"'k'") as caught:
        await store.set(_Escaping("k"), {1})
    assert "outside" not in str(caught.value)


# --- lone surrogates (F1/F2/F8) -----------------------------------------------------------


async def test_lone_surrogates_are_refused_before_anything_is_sent(
    client: Redis, prefix: str, commands_sent: Any
) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix, ttl_ms=60_000)
    bad_key = "user\udc80"

    async def bad_calls() -> None:
        for call in (
            lambda: store.get(bad_key),
            lambda: store.set(bad_key, 1),
            lambda: store.delete(bad_key),
            lambda: store.has(bad_key),
            lambda: store.touch(bad_key),
            lambda: store.get_and_touch(bad_key),
            lambda: store.count_hit(bad_key, 1_000),
        ):
            with pytest.raises(ValueError, match="surrogate") as caught:
                await call()
            assert "user" in str(caught.value), "the message names the key"
        with pytest.raises(ValueError, match=r"'k'.*surrogate"):
            await store.set("k", {"name": "\ud83d"})
        with pytest.raises(ValueError, match=r"'k'.*surrogate"):
            await store.set("k", {"\udfff": 1})

    assert await commands_sent(client, bad_calls) == {}
    assert [k async for k in store.keys()] == []
    assert await client.exists(prefix + "k") == 0
