"""``StoragePersistence`` on real SQLite and Redis lists its namespaces natively: the
stores take ``keys(prefix=...)``, so ``namespaced`` asks them for the prefix instead of
walking every key, and another program's keys never reach PTB."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from _integration import unique_prefix

from puregram.ptb import StoragePersistence
from puregram.storage import KVStorage, namespaced, supports_prefix

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py and PTB are asyncio-only


@pytest.fixture(params=["sqlite", "redis"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVStorage[Any]]:
    if request.param == "sqlite":
        from puregram.storage_sqlite import SqliteStorage

        with closing(sqlite3.connect(tmp_path / "bot.db")) as db:
            yield SqliteStorage(db=db)
        return
    from redis.asyncio import Redis

    from puregram.storage_redis import RedisStorage

    client = Redis.from_url(str(request.getfixturevalue("redis_url")))
    try:
        yield RedisStorage(client=client, prefix=unique_prefix("ptb-ns"))
    finally:
        await client.aclose()


async def test_the_stores_list_a_prefix_natively(storage: KVStorage[Any]) -> None:
    assert supports_prefix(storage)
    assert namespaced(storage, "ptb:user_data:").native_prefix


async def test_persistence_reads_only_its_namespaces(storage: KVStorage[Any]) -> None:
    for index in range(50):
        await storage.set(f"other:{index}", {"not": "ptb"})
    await storage.set("ptb:user_data_backup:1", {"a look-alike": True})
    await storage.set("ptb:user_data:x", {"not an id": True})
    persistence = StoragePersistence(storage)
    await persistence.update_user_data(1, {"a": 1})
    await persistence.update_user_data(-2, {"b": 2})
    await persistence.update_chat_data(-1001, {"c": 3})
    await persistence.update_conversation("order", (-1001, 1), 2)
    await persistence.update_conversation("order2", (-1001, 1), 3)
    again = StoragePersistence(storage)
    assert await again.get_user_data() == {1: {"a": 1}, -2: {"b": 2}}
    assert await again.get_chat_data() == {-1001: {"c": 3}}
    assert await again.get_conversations("order") == {(-1001, 1): 2}
    users: Any = namespaced(storage, "ptb:user_data:")
    assert await users.clear() == 3  # 1, -2 and the stray "x"
    assert await storage.get("ptb:user_data_backup:1") == {"a look-alike": True}
    assert await storage.get("other:0") == {"not": "ptb"}
