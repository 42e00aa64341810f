"""Fixtures for the storage-redis tests: real servers from ``tools/redis_harness.py``.

redis-py is asyncio-only, so every async test here runs on asyncio. The harness
fixtures are imported (not registered as a plugin) so that ``hatch test`` works from
this folder too; the servers live in the harness's module singleton either way.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from puregram.storage_redis import RedisStorage
from tools.redis_harness import pytest_sessionfinish as pytest_sessionfinish
from tools.redis_harness import redis_cluster_url as redis_cluster_url
from tools.redis_harness import redis_server as redis_server
from tools.redis_harness import redis_server_factory as redis_server_factory
from tools.redis_harness import redis_url as redis_url

KINDS = ["single", "single-decoded", "cluster", "cluster-decoded"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_client(request: pytest.FixtureRequest, kind: str, **options: Any) -> Redis | RedisCluster:
    """A client of ``kind`` (one of ``KINDS``) on the harness's server or cluster."""
    decoded = kind.endswith("decoded")
    if kind.startswith("cluster"):
        url = str(request.getfixturevalue("redis_cluster_url"))
        return RedisCluster.from_url(url, decode_responses=decoded, **options)
    url = str(request.getfixturevalue("redis_url"))
    return Redis.from_url(url, decode_responses=decoded, **options)


@pytest.fixture
def client_factory(request: pytest.FixtureRequest) -> Callable[..., Redis | RedisCluster]:
    """``client_factory(kind, **options)``: a new client the test must close."""
    return lambda kind, **options: make_client(request, kind, **options)


@pytest.fixture
def prefix() -> str:
    """A prefix no other test uses, so tests share one server without seeing each other."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def client(anyio_backend: str, redis_url: str) -> AsyncIterator[Redis]:
    """A standalone-server client, ``decode_responses=False``."""
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


@pytest.fixture(params=KINDS)
async def any_client(
    anyio_backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[Redis | RedisCluster]:
    """A client of each kind: standalone or cluster, raw or decoded responses."""
    redis = make_client(request, str(request.param))
    yield redis
    await redis.aclose()


@pytest.fixture
def store(any_client: Redis | RedisCluster, prefix: str) -> RedisStorage[Any]:
    return RedisStorage(client=any_client, prefix=prefix)


CommandsSent = Callable[[Redis, Callable[[], Awaitable[object]]], Awaitable[dict[str, int]]]


async def _commands_sent(raw: Redis, action: Callable[[], Awaitable[object]]) -> dict[str, int]:
    """Run ``action`` and return the commands the server executed meanwhile, by name
    (``INFO commandstats`` after ``CONFIG RESETSTAT``)."""
    await raw.config_resetstat()
    await action()
    stats = await raw.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        # Redis 7 counts subcommands apart ("cmdstat_config|resetstat"); 6.2 does not.
        if name.split("|")[0] not in ("cmdstat_config", "cmdstat_info")
    }


@pytest.fixture
def commands_sent() -> CommandsSent:
    """``await commands_sent(client, action)``: the commands ``action`` made the standalone
    server run, by name."""
    return _commands_sent
