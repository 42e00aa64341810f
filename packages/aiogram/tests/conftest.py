"""Fixtures for the puregram-aiogram tests: real stores (a SQLite file, a Redis server
and a Redis Cluster from ``tools/redis_harness.py``) and a recording bot.

aiogram is asyncio-only, so every async test here runs on asyncio.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot

from puregram.aiogram.testing import make_bot
from puregram.storage import KVStorage, MemoryStorage
from tools.redis_harness import pytest_sessionfinish as pytest_sessionfinish
from tools.redis_harness import redis_cluster_url as redis_cluster_url
from tools.redis_harness import redis_url as redis_url

LOCAL = ["memory", "sqlite"]
WITH_REDIS = ["memory", "sqlite", "redis"]
EVERY = ["memory", "sqlite", "redis", "redis-cluster"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def open_store(kind: str, request: pytest.FixtureRequest, folder: Path) -> Any:
    """A fresh store of ``kind`` and its closer."""
    if kind == "memory":
        return MemoryStorage[Any](), None
    if kind == "sqlite":
        from puregram.storage_sqlite import SqliteStorage

        store = SqliteStorage.open(folder / f"bot-{uuid.uuid4().hex[:8]}.db")
        return store, store.close
    from redis.asyncio import Redis, RedisCluster

    from puregram.storage_redis import RedisStorage

    client: Any = (
        RedisCluster.from_url(str(request.getfixturevalue("redis_cluster_url")))
        if kind == "redis-cluster"
        else Redis.from_url(str(request.getfixturevalue("redis_url")))
    )
    return RedisStorage(client=client, prefix=f"t:{uuid.uuid4().hex[:12]}:"), client.aclose


@pytest.fixture
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[KVStorage[Any]]:
    """A store of the kind the test is parametrized with (``kind``)."""
    kind = request.node.callspec.params["kind"]
    storage, close = await open_store(kind, request, tmp_path)
    yield storage
    if close is not None:
        await close()


@pytest.fixture
def bot() -> Bot:
    return make_bot()
