"""The server dies and comes back: errors while it is down, never wrong data."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from puregram.storage_redis import RedisStorage
from tools.redis_harness import RedisServer

pytestmark = pytest.mark.anyio


async def test_calls_fail_while_down_and_work_after_restart(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    client = Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=2)
    store: RedisStorage[Any] = RedisStorage(client=client, prefix="app:", ttl_ms=60_000)
    try:
        await store.set("k", {"before": True})
        assert await store.get("k") == {"before": True}
        redis_server.kill()
        for call in (
            lambda: store.get("k"),
            lambda: store.set("k", {"during": True}),
            lambda: store.has("k"),
            lambda: store.delete("k"),
            lambda: store.touch("k"),
            lambda: store.get_and_touch("k"),
            lambda: store.count_hit("hits", 1_000),
            lambda: store.entries().__anext__(),
        ):
            with pytest.raises(RedisConnectionError):
                await call()
        redis_server.start()
        # Persistence is off: the restarted server is empty, and says so.
        assert await store.get("k") is None
        assert not await store.has("k")
        await store.set("k", {"after": True})
        assert await store.get("k") == {"after": True}
        assert (await store.count_hit("hits", 60_000))[0] == 1, "the old window is gone"
        assert sorted([key async for key in store.keys()]) == ["hits", "k"]
    finally:
        await client.aclose()


async def test_a_busy_store_never_returns_wrong_data_across_a_crash(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    """Ten writers read back what they wrote while the server is killed and restarted:
    every read is their own last value (or nothing, after the restart lost it)."""
    client = Redis.from_url(
        redis_server.url, socket_timeout=2, socket_connect_timeout=2, max_connections=50
    )
    store: RedisStorage[Any] = RedisStorage(client=client, prefix="busy:")
    ok_before, errors, ok_after = [0], [0], [0]
    restarted = anyio.Event()
    stop_at = time.monotonic() + 1.2

    async def writer(worker: int) -> None:
        step = 0
        while time.monotonic() < stop_at:
            step += 1
            value = {"worker": worker, "step": step}
            try:
                await store.set(f"w{worker}", value)
                got = await store.get(f"w{worker}")
            except RedisConnectionError:
                errors[0] += 1
                await anyio.sleep(0.01)
                continue
            assert got in (value, None), f"worker {worker} wrote {value}, read {got}"
            (ok_after if restarted.is_set() else ok_before)[0] += 1

    async def crash() -> None:
        await anyio.sleep(0.3)
        await anyio.to_thread.run_sync(redis_server.kill)
        await anyio.sleep(0.3)
        await anyio.to_thread.run_sync(redis_server.start)
        restarted.set()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(crash)
            for worker in range(10):
                group.start_soon(writer, worker)
    finally:
        await client.aclose()
    assert ok_before[0] > 0
    assert errors[0] > 0, "the crash went unnoticed"
    assert ok_after[0] > 0, "the store did not recover after the restart"
