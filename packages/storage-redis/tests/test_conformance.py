"""The storage conformance kit on a real server and a real cluster, both decode modes.

The lease checks get a twin: a second ``RedisStorage`` on a second client of the same
server, so exclusion is checked between two instances as it would be between processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from puregram.storage.testing import Check, conformance_checks
from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio

SHORT_TTL_MS = 300


@pytest.fixture
async def twin(
    any_client: Redis | RedisCluster,
    client_factory: Callable[..., Redis | RedisCluster],
    prefix: str,
) -> AsyncIterator[RedisStorage[Any]]:
    kind = ("cluster" if isinstance(any_client, RedisCluster) else "single") + "-decoded"
    other = client_factory(kind)
    yield RedisStorage(client=other, prefix=prefix)
    await other.aclose()


@pytest.mark.parametrize("check", conformance_checks(serializes=True), ids=str)
async def test_redis_storage_conforms(
    check: Check, store: RedisStorage[Any], twin: RedisStorage[Any]
) -> None:
    await check(store, twin=twin)


@pytest.mark.parametrize("check", conformance_checks(serializes=True, ttl_ms=SHORT_TTL_MS), ids=str)
async def test_redis_storage_with_ttl_conforms(
    check: Check, any_client: Redis | RedisCluster, prefix: str
) -> None:
    await check(RedisStorage(client=any_client, prefix=prefix, ttl_ms=SHORT_TTL_MS))
