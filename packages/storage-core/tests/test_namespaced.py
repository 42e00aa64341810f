"""``namespaced``: a view of one key prefix, native listing where the store can."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from puregram.storage import (
    KVStorage,
    LruMemoryStorage,
    MemoryStorage,
    enhance_storage,
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_lock_storage,
    is_ttl_storage,
    namespaced,
    supports_prefix,
)

pytestmark = pytest.mark.anyio


class PlainStore:
    """A hand-written store with get/set/delete/has only: no capability at all."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def get(self, key: str) -> Any:
        return self.data.get(key)

    async def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def has(self, key: str) -> bool:
        return key in self.data


class WalkingStore(PlainStore):
    """Iterable without ``prefix=``: counts how many keys each walk yields."""

    walked = 0

    async def keys(self) -> AsyncIterator[str]:
        for key in list(self.data):
            self.walked += 1
            yield key

    async def values(self) -> AsyncIterator[Any]:
        async for _, value in self.entries():
            yield value

    async def entries(self) -> AsyncIterator[tuple[str, Any]]:
        for key, value in list(self.data.items()):
            self.walked += 1
            yield key, value


class PrefixStore(WalkingStore):
    """Iterable with ``prefix=``: records the prefixes it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    async def keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        self.asked.append(prefix)
        for key in list(self.data):
            if key.startswith(prefix):
                yield key

    async def values(self, *, prefix: str = "") -> AsyncIterator[Any]:
        async for _, value in self.entries(prefix=prefix):
            yield value

    async def entries(self, *, prefix: str = "") -> AsyncIterator[tuple[str, Any]]:
        self.asked.append(prefix)
        for key, value in list(self.data.items()):
            if key.startswith(prefix):
                yield key, value


async def test_prefix_is_added_on_the_way_in_and_stripped_on_the_way_out() -> None:
    store = MemoryStorage[Any]()
    users = namespaced(store, "users:")
    await users.set("1", {"name": "Ann"})
    assert await store.get("users:1") == {"name": "Ann"}
    assert await users.get("1") == {"name": "Ann"}
    assert await users.has("1")
    assert not await users.has("users:1")
    view: Any = users
    assert [key async for key in view.keys()] == ["1"]
    assert [pair async for pair in view.entries()] == [("1", {"name": "Ann"})]
    await users.delete("1")
    assert store.size == 0


async def test_listing_a_namespace_never_shows_another() -> None:
    store = MemoryStorage[int]({"a:1": 1, "ab:2": 2, "b:3": 3, "a": 4})
    view: Any = namespaced(store, "a:")
    assert [key async for key in view.keys()] == ["1"]
    assert [value async for value in view.values()] == [1]


async def test_the_memory_stores_list_one_prefix() -> None:
    for store in (MemoryStorage[int](), LruMemoryStorage[int](max=10)):
        for key, value in (("x:1", 1), ("y:1", 2), ("x:2", 3)):
            await store.set(key, value)
        assert supports_prefix(store)
        assert [key async for key in store.keys(prefix="x:")] == ["x:1", "x:2"]
        assert [value async for value in store.values(prefix="x:")] == [1, 3]
        assert [pair async for pair in store.entries(prefix="y")] == [("y:1", 2)]
        assert len([key async for key in store.keys(prefix="")]) == 3


async def test_enhance_storage_passes_the_prefix_through() -> None:
    base = PrefixStore()
    enhanced: Any = enhance_storage(base)
    assert supports_prefix(enhanced)
    await enhanced.set("p:1", "one")
    await enhanced.set("q:1", "two")
    assert [pair async for pair in enhanced.entries(prefix="p:")] == [("p:1", "one")]
    assert base.asked == ["p:"]


async def test_enhance_storage_filters_a_base_without_prefix() -> None:
    enhanced: Any = enhance_storage(WalkingStore())
    await enhanced.set("p:1", "one")
    await enhanced.set("q:1", "two")
    assert [key async for key in enhanced.keys(prefix="p:")] == ["p:1"]


async def test_a_native_store_is_asked_for_the_prefix_only() -> None:
    base = PrefixStore()
    view: Any = namespaced(base, "ns:")
    assert view.native_prefix
    await view.set("1", 1)
    await base.set("other", 2)
    assert [key async for key in view.keys(prefix="1")] == ["1"]
    assert [pair async for pair in view.entries()] == [("1", 1)]
    assert base.asked == ["ns:1", "ns:"]


async def test_a_store_without_prefix_is_walked_and_filtered() -> None:
    base = WalkingStore()
    view: Any = namespaced(base, "ns:")
    assert not view.native_prefix
    for index in range(5):
        await base.set(f"other:{index}", index)
    await view.set("1", 1)
    assert [key async for key in view.keys()] == ["1"]
    assert base.walked == 6


async def test_nested_views_compose_natively() -> None:
    base = PrefixStore()
    outer = namespaced(base, "bot:")
    inner: Any = namespaced(outer, "users:")
    assert inner.native_prefix
    await inner.set("7", "seven")
    assert await base.get("bot:users:7") == "seven"
    assert [key async for key in inner.keys()] == ["7"]
    assert base.asked == ["bot:users:"]


async def test_clear_deletes_only_its_namespace() -> None:
    store = MemoryStorage[int]({"a:1": 1, "a:2": 2, "a": 3, "ab:1": 4, "b:1": 5})
    assert await namespaced(store, "a:").clear() == 2
    assert sorted([key async for key in store.keys()]) == ["a", "ab:1", "b:1"]


async def test_clear_on_a_store_that_cannot_list_is_a_type_error() -> None:
    view = namespaced(PlainStore(), "ns:")
    with pytest.raises(TypeError, match="clear\\(\\) needs a store that lists its keys"):
        await view.clear()


@pytest.mark.parametrize(
    "store",
    [
        PlainStore(),
        WalkingStore(),
        MemoryStorage(),
        enhance_storage(PlainStore()),
        enhance_storage(MemoryStorage()),
    ],
    ids=["plain", "walking", "memory", "enhanced-plain", "enhanced-memory"],
)
async def test_capabilities_are_exactly_the_stores(store: KVStorage[Any]) -> None:
    view = namespaced(store, "ns:")
    for guard in (
        is_iterable_storage,
        is_ttl_storage,
        is_get_touch_storage,
        is_counter_storage,
        is_lock_storage,
    ):
        assert guard(view) == guard(store), guard.__name__


async def test_lock_through_a_view_shows_the_stripped_key() -> None:
    store = MemoryStorage[Any]()
    view: Any = namespaced(store, "ns:")
    async with view.lock("k") as lease:
        assert lease.key == "k"
        assert not lease.found
        await lease.save(1)
    assert await store.get("ns:k") == 1


@pytest.mark.parametrize("bad", [None, 1, b"ns:"])
def test_a_prefix_that_is_not_a_str_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="namespaced option 'prefix' must be a str"):
        namespaced(MemoryStorage(), bad)


@pytest.mark.parametrize("bad", ["", "lone \ud800"])
def test_an_empty_or_unencodable_prefix_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="namespaced option 'prefix'"):
        namespaced(MemoryStorage(), bad)


async def test_a_non_str_key_is_a_type_error_before_anything_is_written() -> None:
    store = MemoryStorage[Any]()
    view = namespaced(store, "ns:")
    with pytest.raises(TypeError):
        await view.set(1, "x")  # type: ignore[arg-type]
    assert store.size == 0


def test_repr_names_the_store_and_prefix() -> None:
    assert repr(namespaced(MemoryStorage(), "ns:")) == "namespaced(MemoryStorage(size=0), 'ns:')"
