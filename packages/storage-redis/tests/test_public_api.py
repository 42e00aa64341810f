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


def test_from_url_signature() -> None:
    parameters = inspect.signature(RedisStorage.from_url).parameters
    assert list(parameters) == [
        "url",
        "prefix",
        "ttl_ms",
        "cluster",
        "max_connections",
        "timeout",
        "client_options",
    ]
    assert parameters["url"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert parameters["client_options"].kind is inspect.Parameter.VAR_KEYWORD
    defaults = {name: p.default for name, p in parameters.items() if name != "client_options"}
    assert defaults == {
        "url": inspect.Parameter.empty,
        "prefix": "puregram:",
        "ttl_ms": None,
        "cluster": False,
        "max_connections": 50,
        "timeout": 20.0,
    }


@pytest.mark.parametrize("method", ["keys", "values", "entries"])
def test_iteration_takes_a_keyword_only_prefix(method: str) -> None:
    parameters = inspect.signature(getattr(RedisStorage, method)).parameters
    assert list(parameters) == ["self", "prefix"]
    assert parameters["prefix"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["prefix"].default == ""


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
