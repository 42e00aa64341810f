"""The public API of puregram.storage_redis, pinned."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from redis.asyncio import Redis

import puregram.storage_redis
from puregram.storage import (
    CounterStorage,
    GetTouchStorage,
    IterableStorage,
    LockStorage,
    TtlStorage,
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_lock_storage,
    is_ttl_storage,
)
from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio


def test_all_is_pinned() -> None:
    assert puregram.storage_redis.__all__ == ["RedisStorage", "__version__"]
    from importlib.metadata import version

    assert puregram.storage_redis.__version__ == version("puregram-storage-redis")


def test_constructor_signature() -> None:
    parameters = inspect.signature(RedisStorage).parameters
    assert list(parameters) == ["client", "prefix", "ttl_ms"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert parameters["prefix"].default == "puregram:"
    assert parameters["ttl_ms"].default is None


async def test_it_has_every_capability(client: Redis) -> None:
    store: RedisStorage[dict[str, Any]] = RedisStorage(client=client)
    assert is_ttl_storage(store)
    assert is_iterable_storage(store)
    assert is_get_touch_storage(store)
    assert is_counter_storage(store)
    assert is_lock_storage(store)


def _satisfies_every_protocol_statically(store: RedisStorage[dict[str, Any]]) -> None:
    """Never called: mypy checks these assignments."""
    ttl: TtlStorage[dict[str, Any]] = store
    iterable: IterableStorage[dict[str, Any]] = store
    get_touch: GetTouchStorage[dict[str, Any]] = store
    counter: CounterStorage[dict[str, Any]] = store
    lock: LockStorage[dict[str, Any]] = store
    del ttl, iterable, get_touch, counter, lock
