"""A store with its own ttl under the session middleware: every update of an active user
rolls the record's expiry forward (``get_and_touch``), even when the session did not
change, so an active user's session never expires while an idle one does."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _integration import NOW, FakeClock, run_update, unique_prefix
from redis.asyncio import Redis, RedisCluster

from puregram.session import session
from puregram.storage_redis import RedisStorage
from puregram.storage_sqlite import SqliteStorage

pytestmark = pytest.mark.anyio

TTL_MS = 60_000


def bump(context: Any) -> int:
    context.session.counter = context.session.get("counter", 0) + 1
    return int(context.session.counter)


def look(context: Any) -> Any:
    return context.session.get("counter")


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_sqlite_ttl_rolls_forward_on_every_update(anyio_backend: str, tmp_path: Path) -> None:
    """The store's clock is injected: ``expires_at`` is checked to the millisecond."""
    path = tmp_path / "ttl.db"
    clock = FakeClock()

    def expires_at() -> int | None:
        db = sqlite3.connect(path)
        try:
            rows = db.execute("SELECT expires_at FROM puregram_kv WHERE key = '1'").fetchall()
        finally:
            db.close()
        return rows[0][0] if rows else None

    async with SqliteStorage.open(path, ttl_ms=TTL_MS, clock=clock) as store:
        middleware = session(storage=store, clock=clock)
        assert await run_update(middleware, 1, bump) == 1
        assert expires_at() == NOW + TTL_MS

        clock.now += 50_000
        assert await run_update(middleware, 1, look) == 1  # unchanged: touched, not written
        assert expires_at() == NOW + 50_000 + TTL_MS

        clock.now += (
            TTL_MS + 1
        )  # idle for more than a whole ttl: gone (live while expires_at >= now)
        assert await run_update(middleware, 1, look) is None
        assert await run_update(middleware, 1, bump) == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("cluster", [False, True], ids=["server", "cluster"])
async def test_redis_ttl_rolls_forward_on_every_update(
    anyio_backend: str, cluster: bool, request: pytest.FixtureRequest
) -> None:
    """The record's expiry is cut to 5 s behind the store's back (as if 55 s had passed);
    an update that only reads gives it the full minute again (``GETEX ... PX``)."""
    client: Any = (
        RedisCluster.from_url(str(request.getfixturevalue("redis_cluster_url")))
        if cluster
        else Redis.from_url(str(request.getfixturevalue("redis_url")))
    )
    prefix = unique_prefix()
    try:
        middleware = session(storage=RedisStorage(client=client, prefix=prefix, ttl_ms=TTL_MS))
        assert await run_update(middleware, 1, bump) == 1
        assert 50_000 < await client.pttl(f"{prefix}1") <= TTL_MS

        await client.pexpire(f"{prefix}1", 5_000)
        assert await run_update(middleware, 1, look) == 1
        assert 50_000 < await client.pttl(f"{prefix}1") <= TTL_MS

        await client.pexpire(f"{prefix}1", 5_000)
        assert await run_update(middleware, 1, bump) == 2  # a write sets PX too
        assert 50_000 < await client.pttl(f"{prefix}1") <= TTL_MS
    finally:
        await client.aclose()
