"""1000 concurrent session updates over ``RedisStorage.from_url``: none fails, none is lost.

redis-py's default pool raises ``MaxConnectionsError`` past its limit (100 connections in
redis-py 8) instead of waiting; ``RedisStorage.from_url`` builds a client over a
``BlockingConnectionPool`` (one server) or gates the store's commands (cluster), so a
burst of updates waits for connections instead of failing. The last test shows what the
README says of a default client. redis-py is asyncio-only: these tests run on asyncio.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _integration import FakeClock, run_counting_update, unique_prefix
from redis.asyncio import Redis
from redis.exceptions import MaxConnectionsError

from puregram.session import session
from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio

UPDATES = 1_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["server", "cluster"])
def pooled(request: pytest.FixtureRequest) -> RedisStorage[Any]:
    """A store made by ``from_url`` with a small pool: 1000 updates share 20 connections
    (per node on a cluster)."""
    cluster = request.param == "cluster"
    url = str(request.getfixturevalue("redis_cluster_url" if cluster else "redis_url"))
    return RedisStorage.from_url(
        url, prefix=unique_prefix("pool"), cluster=cluster, max_connections=20, timeout=60
    )


async def _raw_counters(store: RedisStorage[Any]) -> dict[str, Any]:
    return {key: value async for key, value in store.entries()}


async def test_1000_concurrent_updates_of_distinct_users_all_succeed(
    anyio_backend: str, pooled: RedisStorage[Any]
) -> None:
    async with pooled as store:
        middleware = session(storage=store, clock=FakeClock())
        seen = await asyncio.gather(
            *(run_counting_update(middleware, user) for user in range(1, UPDATES + 1))
        )
        assert seen == [1] * UPDATES
        assert await _raw_counters(store) == {
            str(user): {"counter": 1} for user in range(1, UPDATES + 1)
        }
        # A second burst over the same users: every record read and bumped again.
        await asyncio.gather(
            *(run_counting_update(middleware, user) for user in range(1, UPDATES + 1))
        )
        assert await _raw_counters(store) == {
            str(user): {"counter": 2} for user in range(1, UPDATES + 1)
        }
        for user in range(1, UPDATES + 1):
            await store.delete(str(user))


async def test_1000_concurrent_updates_of_one_user_all_succeed_and_all_count(
    anyio_backend: str, pooled: RedisStorage[Any]
) -> None:
    async with pooled as store:
        middleware = session(storage=store, clock=FakeClock())
        seen = await asyncio.gather(*(run_counting_update(middleware, 7) for _ in range(UPDATES)))
        assert sorted(seen) == list(range(1, UPDATES + 1)), "every update saw the one before"
        assert await _raw_counters(store) == {"7": {"counter": UPDATES}}
        await store.delete("7")


async def test_a_default_client_fails_past_its_pool_limit_as_the_readme_says(
    anyio_backend: str, redis_url: str
) -> None:
    """``Redis.from_url(url)`` as the README's examples make it: its pool holds
    ``max_connections`` (100 in redis-py 8, effectively unbounded in 5.0) and raises
    ``MaxConnectionsError`` past it. 1000 concurrent updates of distinct users: the ones
    past the limit fail (each with that error) and the others are kept."""
    client = Redis.from_url(redis_url)
    limit = client.connection_pool.max_connections
    if limit >= UPDATES:
        await client.aclose()
        pytest.skip(f"this redis-py's default pool is unbounded ({limit}): nothing fails")
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=unique_prefix("default"))
    try:
        middleware = session(storage=store, clock=FakeClock())
        outcomes = await asyncio.gather(
            *(run_counting_update(middleware, user) for user in range(1, UPDATES + 1)),
            return_exceptions=True,
        )
        failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert failed, "a burst past the pool limit fails with a default client"
        assert all(isinstance(error, MaxConnectionsError) for error in failed), failed[:3]
        assert len(failed) >= UPDATES - 2 * limit
        kept = await _raw_counters(store)
        succeeded = [user for user, outcome in enumerate(outcomes, 1) if outcome == 1]
        assert kept == {str(user): {"counter": 1} for user in succeeded}
        for key in kept:
            await store.delete(key)
    finally:
        await client.aclose()
