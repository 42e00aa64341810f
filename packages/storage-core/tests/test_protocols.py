"""The contract and its ``is_*`` guards, on minimal hand-written classes.

mypy runs over this file (strict, with ``warn_unused_ignores``): the assignments below are
the static half of the test. An adapter with the four methods must type-check as
``KVStorage``; the ``type: ignore`` lines must stay errors, or mypy fails on an unused ignore.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from puregram.storage import (
    CounterStorage,
    GetTouchStorage,
    IterableStorage,
    KVStorage,
    LruMemoryStorage,
    MemoryStorage,
    TtlStorage,
    enhance_storage,
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_ttl_storage,
)

pytestmark = pytest.mark.anyio


class DictAdapter:
    """What a user writes: the four methods, no base class, no registration."""

    def __init__(self) -> None:
        self._data: dict[str, int] = {}

    async def get(self, key: str) -> int | None:
        return self._data.get(key)

    async def set(self, key: str, value: int) -> None:
        self._data[key] = value

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def has(self, key: str) -> bool:
        return key in self._data


class WithTouch(DictAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.touched: list[str] = []

    async def touch(self, key: str) -> None:
        self.touched.append(key)


class WithGetAndTouch(WithTouch):
    async def get_and_touch(self, key: str) -> int | None:
        await self.touch(key)
        return await self.get(key)


class GetAndTouchWithoutTouch(DictAdapter):
    async def get_and_touch(self, key: str) -> int | None:
        return await self.get(key)


class WithIterators(DictAdapter):
    async def keys(self) -> AsyncIterator[str]:
        for key in list(self._data):
            yield key

    async def values(self) -> AsyncIterator[int]:
        for value in list(self._data.values()):
            yield value

    async def entries(self) -> AsyncIterator[tuple[str, int]]:
        for entry in list(self._data.items()):
            yield entry


class WithKeysOnly(DictAdapter):
    async def keys(self) -> AsyncIterator[str]:
        for key in list(self._data):
            yield key


class WithCounter(DictAdapter):
    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        return 1, window_ms


class TouchIsNotCallable(DictAdapter):
    touch = None
    keys = values = entries = "not callable"


class MissingHas:
    async def get(self, key: str) -> int | None:
        return None

    async def set(self, key: str, value: int) -> None:
        pass

    async def delete(self, key: str) -> None:
        pass


# The static half: these lines are checked by mypy, not run for their value.
adapter: KVStorage[int] = DictAdapter()
ttl_adapter: TtlStorage[int] = WithTouch()
get_touch_adapter: GetTouchStorage[int] = WithGetAndTouch()
iterable_adapter: IterableStorage[int] = WithIterators()
counter_adapter: CounterStorage[Any] = WithCounter()
memory: IterableStorage[str] = MemoryStorage[str]()
lru: IterableStorage[str] = LruMemoryStorage[str](max=1)
enhanced: KVStorage[Any] = enhance_storage(MemoryStorage())
not_ttl: TtlStorage[int] = DictAdapter()  # type: ignore[assignment]
not_iterable: IterableStorage[int] = WithKeysOnly()  # type: ignore[assignment]
not_storage: KVStorage[int] = MissingHas()  # type: ignore[assignment]
wrong_value_type: KVStorage[str] = DictAdapter()  # type: ignore[assignment]


async def test_a_plain_adapter_has_no_optional_capability() -> None:
    storage = DictAdapter()
    assert not is_ttl_storage(storage)
    assert not is_get_touch_storage(storage)
    assert not is_iterable_storage(storage)
    assert not is_counter_storage(storage)


async def test_is_ttl_storage_narrows_to_touch() -> None:
    storage: KVStorage[int] = WithTouch()
    assert is_ttl_storage(storage)
    await storage.touch("k")  # type-checks only because the guard narrowed
    assert isinstance(storage, WithTouch)
    assert storage.touched == ["k"]
    assert not is_get_touch_storage(storage)


async def test_is_get_touch_storage_needs_touch_as_well() -> None:
    assert is_get_touch_storage(WithGetAndTouch())
    assert is_ttl_storage(WithGetAndTouch())
    assert not is_get_touch_storage(GetAndTouchWithoutTouch())


async def test_is_iterable_storage_needs_all_three_iterators() -> None:
    storage: KVStorage[int] = WithIterators()
    await storage.set("a", 1)
    assert is_iterable_storage(storage)
    assert [entry async for entry in storage.entries()] == [("a", 1)]
    assert not is_iterable_storage(WithKeysOnly())


async def test_is_counter_storage() -> None:
    assert is_counter_storage(WithCounter())
    assert not is_counter_storage(WithTouch())


async def test_guards_want_callables_not_just_attributes() -> None:
    storage = TouchIsNotCallable()
    assert not is_ttl_storage(storage)
    assert not is_iterable_storage(storage)


async def test_bundled_stores_are_iterable_and_not_ttl() -> None:
    for storage in (MemoryStorage[int](), LruMemoryStorage[int](max=1)):
        assert is_iterable_storage(storage)
        assert not is_ttl_storage(storage)
        assert not is_counter_storage(storage)


async def test_a_consumer_that_iterates_works_without_iterators() -> None:
    """The pattern the README teaches: guard, and fall back to nothing."""

    async def all_keys(storage: KVStorage[int]) -> list[str]:
        if not is_iterable_storage(storage):
            return []
        return [key async for key in storage.keys()]

    with_iterators = WithIterators()
    await with_iterators.set("a", 1)
    assert await all_keys(with_iterators) == ["a"]
    assert await all_keys(DictAdapter()) == []
