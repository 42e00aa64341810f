"""The storage conformance kit on a real server and a real cluster, both decode modes."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from puregram.storage.testing import Check, conformance_checks
from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("check", conformance_checks(serializes=True), ids=str)
async def test_redis_storage_conforms(check: Check, store: RedisStorage[Any]) -> None:
    await check(store)


@pytest.mark.parametrize("check", conformance_checks(serializes=True), ids=str)
async def test_redis_storage_with_ttl_conforms(
    check: Check, any_client: Redis | RedisCluster, prefix: str
) -> None:
    await check(RedisStorage(client=any_client, prefix=prefix, ttl_ms=60_000))
