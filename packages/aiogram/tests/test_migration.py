"""The README's way from aiogram's ``RedisStorage`` to ``FsmStorage``: data is read as it
is, states after the one-off conversion. On a real Redis server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage as AiogramRedisStorage
from redis.asyncio import Redis

from puregram.aiogram import FsmStorage
from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio


async def test_a_bot_moves_from_aiograms_redis_storage(redis_url: str) -> None:
    redis: Any = Redis.from_url(redis_url)
    prefix = f"fsm{uuid.uuid4().hex[:8]}"  # aiogram's key prefix, unique to this test
    builder = DefaultKeyBuilder(prefix=prefix)
    key = StorageKey(bot_id=42, chat_id=7, user_id=7)
    try:
        old = AiogramRedisStorage(redis, key_builder=builder)
        await old.set_state(key, "Signup:age")
        await old.set_data(key, {"name": "Ann"})
        await redis.pexpire(f"{prefix}:7:7:state", 600_000)

        # The README's conversion, run once with the bot stopped.
        async for name in redis.scan_iter(match=f"{prefix}:*:state"):
            value = await redis.get(name)
            if value is not None and not value.startswith(b'"'):
                await redis.set(name, json.dumps(value.decode()), keepttl=True)

        fsm = FsmStorage(RedisStorage(client=redis, prefix=""), key_builder=builder)
        assert await fsm.get_state(key) == "Signup:age"
        assert await fsm.get_data(key) == {"name": "Ann"}
        assert await redis.pttl(f"{prefix}:7:7:state") > 500_000  # the ttl was kept
    finally:
        await redis.delete(f"{prefix}:7:7:state", f"{prefix}:7:7:data")
        await redis.aclose()
