"""Over a real Redis server (the harness starts one): counting through
``RedisStorage.count_hit``, exact across processes. asyncio only: redis-py needs it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
import redis.asyncio

from puregram.rate_limit import rate_limit
from puregram.storage import is_counter_storage
from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def storage(redis_url: str) -> AsyncIterator[RedisStorage[Any]]:
    client = redis.asyncio.Redis.from_url(redis_url)
    # a fresh prefix per test: the shared server may hold other tests' keys
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=f"rl-{uuid.uuid4().hex}:")
    try:
        yield store
    finally:
        async for key in store.keys():
            await store.delete(key)
        await client.aclose()


class Context:
    def __init__(self, sender_id: int | None) -> None:
        self.sender_id = sender_id


async def test_counts_and_stores_the_entry_with_expiry(
    storage: RedisStorage[Any], redis_url: str
) -> None:
    assert is_counter_storage(storage)
    limiter = rate_limit(storage=storage)
    user = Context(42)
    before = time.time_ns() // 1_000_000
    results = [await limiter.check(user, limit=2, window=30, bucket="photo") for _ in range(3)]
    assert results[:2] == [None, None]
    assert results[2] in (29, 30)  # the server's clock, not ours: allow a second
    entry = await storage.get("photo:42")
    assert entry is not None
    assert entry["hits"] == 3
    # the server's clock; allow a second of skew either way
    assert before + 29_000 <= entry["resetAt"] <= time.time_ns() // 1_000_000 + 31_000
    prefixed = [key async for key in storage.keys()]
    assert prefixed == ["photo:42"]
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        names = [name async for name in client.scan_iter(match="rl-*:photo:42")]
        assert len(names) == 1
        ttl = await client.pttl(names[0])
    finally:
        await client.aclose()
    assert 0 < ttl <= 30_000  # the key dies with its window
    await limiter.reset("photo:42")
    assert not await storage.has("photo:42")
    assert await limiter.check(Context(None), limit=1, window=30) is None
    assert [key async for key in storage.keys()] == []


async def test_a_real_window_rolls_over(storage: RedisStorage[Any]) -> None:
    limiter = rate_limit(storage=storage)
    assert await limiter.hit("k", 1, 0.2) is None
    assert await limiter.hit("k", 1, 0.2) == 1
    await anyio.sleep(0.5)  # wide margin past a 200 ms window
    assert await limiter.hit("k", 1, 0.2) is None


async def test_middleware_over_redis(storage: RedisStorage[Any]) -> None:
    seen: list[int] = []
    limiter = rate_limit(storage=storage, on_limit_exceeded=lambda c, r: seen.append(r))
    mw = limiter.middleware(limit=1, window=60)
    handled: list[int] = []

    async def handler() -> None:
        handled.append(1)

    await mw(Context(1), handler)
    await mw(Context(1), handler)
    assert handled == [1]
    assert seen in ([60], [59])


def test_two_processes_count_exactly_over_one_redis(
    redis_url: str, race_processes: Callable[..., list[int]]
) -> None:
    """2 processes x 8 tasks x 100 hits, limit 500 in one window: exactly 500 pass."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_url)
    client.delete("race:race:1")
    try:
        allowed = race_processes("redis", redis_url, backends=("asyncio", "asyncio"))
        assert sum(allowed) == 500, allowed
        stored = client.get("race:race:1")
        assert isinstance(stored, bytes)
        assert b'"hits":1600' in stored
    finally:
        client.delete("race:race:1")
        client.close()
