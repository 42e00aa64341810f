"""``RedisStorage.from_url``: a client the store owns and closes, with a pool that waits."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio


async def _connected(admin: Redis, name: str) -> int:
    """How many connections named ``name`` the server has open now."""
    return sum(1 for entry in await admin.client_list() if entry.get("name") == name)


async def test_one_server_waits_for_a_free_connection(
    redis_url: str, client: Redis, prefix: str
) -> None:
    """300 commands at once through 5 connections: none fails, the server never sees a
    sixth connection, and the pool is redis-py's BlockingConnectionPool as documented."""
    name = f"from-url-{uuid.uuid4().hex[:8]}"
    store: RedisStorage[int] = RedisStorage.from_url(
        redis_url, prefix=prefix, max_connections=5, timeout=10, client_name=name
    )
    async with store:
        redis: Any = store.client
        pool = redis.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (5, 10)
        most = 0

        async def bump(index: int) -> None:
            nonlocal most
            await store.set(f"k{index}", index)
            most = max(most, await _connected(client, name))
            assert await store.get(f"k{index}") == index

        await asyncio.gather(*(bump(index) for index in range(300)))
        assert 1 <= most <= 5
        assert len([key async for key in store.keys()]) == 300
    # The server drops a closed connection when it reads the FIN: poll, with a deadline.
    for _ in range(500):
        if not await _connected(client, name):
            break
        await asyncio.sleep(0.01)
    assert await _connected(client, name) == 0, "async with closed the client it made"
    await store.aclose()  # twice is fine


async def test_a_command_waits_timeout_seconds_then_raises(redis_url: str, prefix: str) -> None:
    store: RedisStorage[int] = RedisStorage.from_url(
        redis_url, prefix=prefix, max_connections=1, timeout=0.2
    )
    async with store:
        holder = asyncio.ensure_future(store.client.blpop([prefix + "never"], timeout=2))
        await asyncio.sleep(0.1)  # the BLPOP holds the only connection
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await store.get("k")
        assert 0.15 <= loop.time() - start < 1.5
        assert await holder is None
        await store.set("k", 1)  # the connection is free again
        assert await store.get("k") == 1


async def test_client_options_reach_the_client(redis_url: str, prefix: str) -> None:
    made: RedisStorage[int] = RedisStorage.from_url(
        redis_url, prefix=prefix, ttl_ms=60_000, decode_responses=True
    )
    async with made as store:
        await store.set("k", 7)
        assert await store.client.get(prefix + "k") == "7"
        assert 0 < await store.client.pttl(prefix + "k") <= 60_000
        assert (store.key_prefix, store.ttl_ms) == (prefix, 60_000)


async def test_a_client_passed_in_is_never_closed(client: Redis, prefix: str) -> None:
    given: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)
    async with given as store:
        await store.set("k", 1)
    await store.aclose()
    assert store.client is client
    assert await client.get(prefix + "k") == b"1", "the client still works"


async def test_a_cluster_store_waits_where_redis_py_would_raise(
    redis_cluster_url: str, prefix: str
) -> None:
    """redis-py's cluster client raises MaxConnectionsError past max_connections per node;
    from_url(cluster=True) lets at most max_connections commands out at once instead."""
    bare = RedisCluster.from_url(redis_cluster_url, max_connections=2)
    try:
        await bare.initialize()
        outcomes = await asyncio.gather(
            *(bare.set(f"{{{prefix}}}k{index}", index) for index in range(100)),
            return_exceptions=True,
        )
        assert any(isinstance(outcome, MaxConnectionsError) for outcome in outcomes)
    finally:
        await bare.aclose()

    store: RedisStorage[int] = RedisStorage.from_url(
        redis_cluster_url, prefix=prefix, cluster=True, max_connections=2, timeout=20
    )
    async with store:
        assert isinstance(store.client, RedisCluster)
        await asyncio.gather(*(store.set(f"{{tag}}k{index}", index) for index in range(200)))
        await asyncio.gather(*(store.set(f"k{index}", index) for index in range(200)))
        values = await asyncio.gather(*(store.get(f"k{index}") for index in range(200)))
        assert values == list(range(200))
        entries = {key: value async for key, value in store.entries()}
        assert len(entries) == 400
        for key in entries:
            await store.delete(key)


async def test_a_cluster_command_waits_timeout_seconds_then_raises(
    redis_cluster_url: str, prefix: str
) -> None:
    store: RedisStorage[int] = RedisStorage.from_url(
        redis_cluster_url, prefix=prefix, cluster=True, max_connections=1, timeout=0.2
    )
    async with store:
        await store.set("k", 1)
        gate: Any = store._gate  # held here as a long command would hold it
        async with gate:
            with pytest.raises(RedisConnectionError, match="max_connections"):
                await store.get("k")
        assert await store.get("k") == 1
        await store.delete("k")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"url": b"redis://"}, TypeError, "'url' must be a str"),
        ({"max_connections": 0}, ValueError, "'max_connections' must be from 1"),
        ({"max_connections": "5"}, TypeError, "'max_connections' must be an int"),
        ({"max_connections": True}, TypeError, "'max_connections' must be an int"),
        ({"timeout": 0}, ValueError, "'timeout' must be a finite number of seconds"),
        ({"timeout": float("nan")}, ValueError, "'timeout' must be a finite number"),
        ({"timeout": "1"}, TypeError, "'timeout' must be seconds"),
        ({"cluster": "yes"}, TypeError, "'cluster' must be a bool"),
        ({"prefix": 1}, TypeError, "'prefix' must be a str"),
        ({"ttl_ms": 1.5}, TypeError, "'ttl_ms'"),
        ({"ttl_ms": 0}, ValueError, "'ttl_ms'"),
        ({"prefix": "puregram-lease:{x"}, ValueError, "must not start with"),
    ],
)
def test_bad_options_name_themselves(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    arguments: dict[str, Any] = {"url": "redis://localhost:1/0", **options}
    with pytest.raises(error, match=match):
        RedisStorage.from_url(**arguments)
