"""enhance_storage: versioned envelopes, lazy migrations and per-entry expiry.

Time comes from an injected clock (unix ms), so expiry is tested without sleeping.
"""

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from puregram.storage import (
    EnhancedStorage,
    MemoryStorage,
    enhance_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_ttl_storage,
)

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000


class Clock:
    """A settable clock returning unix ms."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class PlainStorage:
    """A base with only the four required methods: no iteration, no touch.

    It counts writes, so a test can see when the enhanced store writes back.
    """

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self.writes = 0

    async def get(self, key: str) -> Any:
        return self.data.get(key)

    async def set(self, key: str, value: Any) -> None:
        self.writes += 1
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def has(self, key: str) -> bool:
        return key in self.data


class TouchStorage(PlainStorage):
    """A base with ``touch`` and ``get_and_touch`` that records what was touched."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        super().__init__(data)
        self.touched: list[str] = []

    async def touch(self, key: str) -> None:
        self.touched.append(key)

    async def get_and_touch(self, key: str) -> Any:
        self.touched.append(key)
        return self.data.get(key)


class IterablePlainStorage(PlainStorage):
    """A counting base that can also iterate."""

    async def keys(self) -> AsyncIterator[str]:
        for key in list(self.data):
            yield key

    async def values(self) -> AsyncIterator[Any]:
        for value in list(self.data.values()):
            yield value

    async def entries(self) -> AsyncIterator[tuple[str, Any]]:
        for entry in list(self.data.items()):
            yield entry


def _add_role(data: Any) -> Any:
    return {**data, "role": "guest"}


async def _add_counter(data: Any) -> Any:
    await anyio.lowlevel.checkpoint()  # a real await, as an async migration would do
    return {**data, "counter": data.get("counter", 0)}


# --- the envelope written on set -------------------------------------------------------


async def test_set_writes_an_envelope_at_version_zero_without_migrations() -> None:
    base: MemoryStorage[Any] = MemoryStorage()
    storage = enhance_storage(base)
    await storage.set("k", {"a": 1})
    assert await base.get("k") == {"__v": 0, "data": {"a": 1}}
    assert await storage.get("k") == {"a": 1}
    assert storage.version == 0


async def test_set_stamps_the_highest_migration_key_as_version() -> None:
    base: MemoryStorage[Any] = MemoryStorage()
    storage = enhance_storage(base, migrations={1: _add_role, 3: _add_counter})
    await storage.set("k", "v")
    assert await base.get("k") == {"__v": 3, "data": "v"}
    assert storage.version == 3


async def test_ttl_ms_stamps_exp_from_the_clock_on_every_set() -> None:
    base: MemoryStorage[Any] = MemoryStorage()
    clock = Clock()
    storage = enhance_storage(base, ttl_ms=5_000, clock=clock)
    await storage.set("k", None)
    assert await base.get("k") == {"__v": 0, "__exp": NOW + 5_000, "data": None}
    clock.now += 1_000
    await storage.set("k", 2)
    assert await base.get("k") == {"__v": 0, "__exp": NOW + 6_000, "data": 2}


async def test_the_envelope_keeps_the_value_by_reference_over_memory() -> None:
    storage = enhance_storage(MemoryStorage())
    value = {"a": [1]}
    await storage.set("k", value)
    assert await storage.get("k") is value


async def test_none_is_a_value() -> None:
    storage = enhance_storage(MemoryStorage())
    await storage.set("k", None)
    assert await storage.has("k")
    assert await storage.get("k") is None


async def test_delete_removes_from_the_base() -> None:
    base: MemoryStorage[Any] = MemoryStorage()
    storage = enhance_storage(base)
    await storage.set("k", 1)
    await storage.delete("k")
    await storage.delete("never")
    assert base.size == 0
    assert not await storage.has("k")


# --- migrations --------------------------------------------------------------------------


async def test_legacy_values_are_version_zero_and_run_every_migration() -> None:
    base = MemoryStorage[Any]({"k": {"name": "ann"}})
    storage = enhance_storage(base, migrations={1: _add_role, 2: _add_counter})
    assert await storage.get("k") == {"name": "ann", "role": "guest", "counter": 0}
    assert await base.get("k") == {
        "__v": 2,
        "data": {"name": "ann", "role": "guest", "counter": 0},
    }


@pytest.mark.parametrize(
    "legacy",
    [
        "text",
        7,
        [1, 2],
        {"__v": "1", "data": 1},  # __v is not an int
        {"__v": True, "data": 1},  # nor is a bool
        {"__v": 1, "other": 2},  # no data, and more than an empty envelope
        {"data": 1},  # no __v
    ],
    ids=repr,
)
async def test_anything_but_an_envelope_is_legacy_data(legacy: Any) -> None:
    base = MemoryStorage[Any]({"k": legacy})
    storage = enhance_storage(base, migrations={1: lambda data: ["migrated", data]})
    assert await storage.get("k") == ["migrated", legacy]
    assert await base.get("k") == {"__v": 1, "data": ["migrated", legacy]}


async def test_legacy_value_without_migrations_reads_as_is_and_is_not_rewritten() -> None:
    base = PlainStorage({"k": "legacy"})
    storage = enhance_storage(base)
    assert await storage.get("k") == "legacy"
    assert base.writes == 0
    assert base.data["k"] == "legacy"


async def test_migrations_run_in_key_order_whatever_the_mapping_order() -> None:
    calls: list[int] = []

    def step(version: int) -> Any:
        def migrate(data: Any) -> Any:
            calls.append(version)
            return [*data, version]

        return migrate

    base = MemoryStorage[Any]({"k": {"__v": 0, "data": []}})
    storage = enhance_storage(base, migrations={3: step(3), 1: step(1), 2: step(2)})
    assert await storage.get("k") == [1, 2, 3]
    assert calls == [1, 2, 3]


async def test_only_outstanding_migrations_run() -> None:
    base = MemoryStorage[Any]({"k": {"__v": 1, "data": {"role": "admin"}}})
    storage = enhance_storage(base, migrations={1: _add_role, 2: _add_counter})
    assert await storage.get("k") == {"role": "admin", "counter": 0}


async def test_gaps_in_migration_keys_are_skipped() -> None:
    base = MemoryStorage[Any]({"old": {"__v": 0, "data": ""}, "mid": {"__v": 3, "data": ""}})
    storage = enhance_storage(
        base, migrations={2: lambda data: data + "2", 5: lambda data: data + "5"}
    )
    assert storage.version == 5
    assert await storage.get("old") == "25"
    assert await storage.get("mid") == "5"  # 3 and 4 are no steps: only 5 is outstanding


async def test_sync_and_async_migrations_mix() -> None:
    async def double(data: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        return data * 2

    base = MemoryStorage[Any]({"k": 1})
    storage = enhance_storage(base, migrations={1: double, 2: lambda d: d + 1, 3: double})
    assert await storage.get("k") == 6


async def test_get_writes_the_upgraded_envelope_back_once() -> None:
    calls = 0

    def migrate(data: Any) -> Any:
        nonlocal calls
        calls += 1
        return data + 1

    base = PlainStorage({"k": {"__v": 0, "data": 1}})
    storage = enhance_storage(base, migrations={1: migrate})
    assert await storage.get("k") == 2
    assert await storage.get("k") == 2
    assert calls == 1
    assert base.writes == 1
    assert base.data["k"] == {"__v": 1, "data": 2}


async def test_write_back_keeps_the_envelope_exp() -> None:
    clock = Clock()
    base = PlainStorage({"k": {"__v": 0, "__exp": NOW + 10, "data": 1}})
    storage = enhance_storage(base, migrations={1: lambda d: d + 1}, ttl_ms=60_000, clock=clock)
    assert await storage.get("k") == 2
    assert base.data["k"] == {"__v": 1, "__exp": NOW + 10, "data": 2}


async def test_a_current_envelope_is_not_rewritten() -> None:
    base = PlainStorage({"k": {"__v": 2, "data": "x"}})
    storage = enhance_storage(base, migrations={1: _add_role, 2: _add_counter})
    assert await storage.get("k") == "x"
    assert base.writes == 0


async def test_a_newer_stored_version_is_returned_as_is_without_write() -> None:
    base = PlainStorage({"k": {"__v": 9, "data": {"from": "the future"}}})
    storage = enhance_storage(base, migrations={1: _add_role})
    assert await storage.get("k") == {"from": "the future"}
    assert base.writes == 0
    assert base.data["k"] == {"__v": 9, "data": {"from": "the future"}}


async def test_a_failing_migration_raises_and_writes_nothing() -> None:
    def broken(data: Any) -> Any:
        raise RuntimeError("bad migration")

    base = PlainStorage({"k": {"__v": 0, "data": 1}})
    storage = enhance_storage(base, migrations={1: broken})
    with pytest.raises(RuntimeError, match="bad migration"):
        await storage.get("k")
    assert base.writes == 0
    assert base.data["k"] == {"__v": 0, "data": 1}


async def test_concurrent_reads_converge() -> None:
    base = PlainStorage({"k": {"__v": 0, "data": {"name": "ann"}}})
    storage = enhance_storage(base, migrations={1: _add_role, 2: _add_counter})
    results: list[Any] = []

    async def read() -> None:
        results.append(await storage.get("k"))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(read)
    expected = {"name": "ann", "role": "guest", "counter": 0}
    assert results == [expected] * 5
    assert base.data["k"] == {"__v": 2, "data": expected}
    assert await storage.get("k") == expected


# --- expiry ------------------------------------------------------------------------------


async def test_an_expired_envelope_reads_as_missing_and_is_deleted_from_the_base() -> None:
    clock = Clock()
    base: MemoryStorage[Any] = MemoryStorage()
    storage = enhance_storage(base, ttl_ms=1_000, clock=clock)
    await storage.set("k", "v")
    clock.now += 1_000
    assert await storage.get("k") == "v"  # __exp == now: still live, as in TypeScript
    clock.now += 1  # __exp < now: expired
    assert await base.has("k")
    assert await storage.get("k") is None
    assert not await base.has("k")


async def test_an_expired_envelope_is_never_migrated() -> None:
    def migrate(data: Any) -> Any:
        raise AssertionError("an expired entry was migrated")

    base = PlainStorage({"k": {"__v": 0, "__exp": NOW - 1, "data": 1}})
    storage = enhance_storage(base, migrations={1: migrate}, clock=Clock())
    assert await storage.get("k") is None
    assert base.writes == 0
    assert "k" not in base.data


async def test_has_sees_through_and_skips_expired() -> None:
    clock = Clock()
    base = PlainStorage({"live": {"__v": 0, "__exp": NOW + 1, "data": 1}})
    base.data["dead"] = {"__v": 0, "__exp": NOW - 1, "data": 1}
    base.data["edge"] = {"__v": 0, "__exp": NOW, "data": 1}
    base.data["forever"] = {"__v": 0, "data": None}
    base.data["legacy-none"] = None
    storage = enhance_storage(base, clock=clock)
    assert await storage.has("live")
    assert await storage.has("forever")
    assert await storage.has("legacy-none")
    assert await storage.has("edge")  # __exp == now is live
    assert not await storage.has("dead")
    assert not await storage.has("missing")


async def test_iteration_sees_through_and_skips_expired() -> None:
    clock = Clock()
    base = MemoryStorage[Any](
        {
            "dead": {"__v": 1, "__exp": NOW - 5, "data": "d"},
            "live": {"__v": 1, "__exp": NOW + 5, "data": "l"},
            "legacy": "old",
            "forever": {"__v": 1, "data": "f"},
        }
    )
    storage = enhance_storage(base, migrations={1: lambda d: d.upper()}, clock=clock)
    assert is_iterable_storage(storage)
    keys = [key async for key in storage.keys()]
    assert keys == ["live", "legacy", "forever"]
    assert [value async for value in storage.values()] == ["l", "OLD", "f"]
    assert [entry async for entry in storage.entries()] == [
        ("live", "l"),
        ("legacy", "OLD"),
        ("forever", "f"),
    ]


async def test_values_and_entries_migrate_without_writing_back() -> None:
    base = IterablePlainStorage({"a": {"__v": 0, "data": 1}, "b": 2})
    storage = enhance_storage(base, migrations={1: lambda d: d * 10})
    assert is_iterable_storage(storage)
    assert [value async for value in storage.values()] == [10, 20]
    assert [entry async for entry in storage.entries()] == [("a", 10), ("b", 20)]
    assert base.writes == 0
    assert base.data == {"a": {"__v": 0, "data": 1}, "b": 2}


# --- millisecond_precision ---------------------------------------------------------------


async def test_millisecond_precision_keeps_a_live_exp_on_rewrite() -> None:
    clock = Clock()
    base = PlainStorage({"k": {"__v": 0, "__exp": NOW + 500, "data": 1}})
    storage = enhance_storage(base, millisecond_precision=True, ttl_ms=60_000, clock=clock)
    clock.now += 100
    await storage.set("k", 2)
    assert base.data["k"] == {"__v": 0, "__exp": NOW + 500, "data": 2}


async def test_millisecond_precision_without_ttl_keeps_a_live_exp() -> None:
    clock = Clock()
    base = PlainStorage({"k": {"__v": 0, "__exp": NOW + 500, "data": 1}})
    storage = enhance_storage(base, millisecond_precision=True, clock=clock)
    await storage.set("k", 2)
    assert base.data["k"] == {"__v": 0, "__exp": NOW + 500, "data": 2}


async def test_millisecond_precision_ignores_a_dead_exp() -> None:
    clock = Clock()
    base = PlainStorage({"k": {"__v": 0, "__exp": NOW - 1, "data": 1}})
    storage = enhance_storage(base, millisecond_precision=True, ttl_ms=1_000, clock=clock)
    await storage.set("k", 2)
    assert base.data["k"] == {"__v": 0, "__exp": NOW + 1_000, "data": 2}
    base.data["k"] = {"__v": 0, "__exp": NOW - 1, "data": 1}
    plain = enhance_storage(base, millisecond_precision=True, clock=clock)
    await plain.set("k", 3)
    assert base.data["k"] == {"__v": 0, "data": 3}


async def test_millisecond_precision_on_a_new_key_uses_ttl_ms() -> None:
    base = PlainStorage({"legacy": "old"})
    storage = enhance_storage(base, millisecond_precision=True, ttl_ms=10, clock=Clock())
    await storage.set("new", 1)
    await storage.set("legacy", 2)
    assert base.data["new"] == {"__v": 0, "__exp": NOW + 10, "data": 1}
    assert base.data["legacy"] == {"__v": 0, "__exp": NOW + 10, "data": 2}


async def test_without_millisecond_precision_a_rewrite_carries_only_ttl_ms_exp() -> None:
    clock = Clock()
    base = PlainStorage({"k": {"__v": 0, "__exp": NOW + 500, "data": 1}})
    storage = enhance_storage(base, ttl_ms=60_000, clock=clock)
    await storage.set("k", 2)
    assert base.data["k"] == {"__v": 0, "__exp": NOW + 60_000, "data": 2}


async def test_without_millisecond_precision_or_ttl_a_rewrite_drops_exp() -> None:
    base = PlainStorage({"k": {"__v": 0, "__exp": NOW + 500, "data": 1}})
    storage = enhance_storage(base, clock=Clock())
    await storage.set("k", 2)
    assert base.data["k"] == {"__v": 0, "data": 2}


async def test_millisecond_precision_costs_one_read_per_set_only() -> None:
    reads = 0

    class Counting(PlainStorage):
        async def get(self, key: str) -> Any:
            nonlocal reads
            reads += 1
            return await super().get(key)

    await enhance_storage(Counting(), millisecond_precision=True).set("k", 1)
    assert reads == 1
    await enhance_storage(Counting()).set("k", 1)
    assert reads == 1


# --- capabilities pass through -----------------------------------------------------------


async def test_over_memory_storage_it_is_iterable_without_touch() -> None:
    storage = enhance_storage(MemoryStorage())
    assert is_iterable_storage(storage)
    assert not is_ttl_storage(storage)
    assert not is_get_touch_storage(storage)
    assert not hasattr(storage, "touch")
    assert not hasattr(storage, "get_and_touch")


async def test_over_a_base_without_iteration_it_has_no_iterators() -> None:
    storage = enhance_storage(PlainStorage())
    assert not is_iterable_storage(storage)
    assert not is_ttl_storage(storage)
    for name in ("keys", "values", "entries", "touch", "get_and_touch"):
        assert not hasattr(storage, name), name


async def test_touch_and_get_and_touch_pass_through_when_the_base_has_them() -> None:
    clock = Clock()
    base = TouchStorage()
    storage = enhance_storage(base, migrations={1: lambda d: d + 1}, ttl_ms=100, clock=clock)
    assert is_ttl_storage(storage)
    assert is_get_touch_storage(storage)
    assert not is_iterable_storage(storage)
    await storage.set("k", 1)
    await storage.touch("k")
    assert base.touched == ["k"]
    assert await storage.get_and_touch("k") == 1
    assert base.touched == ["k", "k"]
    base.data["old"] = {"__v": 0, "data": 1}
    assert await storage.get_and_touch("old") == 2
    assert base.data["old"] == {"__v": 1, "data": 2}
    clock.now += 101
    assert await storage.get_and_touch("k") is None
    assert "k" not in base.data


async def test_touch_alone_gives_no_get_and_touch() -> None:
    class OnlyTouch(PlainStorage):
        async def touch(self, key: str) -> None:
            pass

    storage = enhance_storage(OnlyTouch())
    assert is_ttl_storage(storage)
    assert not is_get_touch_storage(storage)


async def test_base_and_repr() -> None:
    base: MemoryStorage[Any] = MemoryStorage()
    storage = enhance_storage(base, migrations={2: _add_role})
    assert isinstance(storage, EnhancedStorage)
    assert storage.base is base
    assert repr(storage) == "EnhancedStorage(MemoryStorage(size=0), version=2)"


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, True, "1", 1.0, None])
def test_invalid_migration_keys_are_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="migrations keys must be ints >= 1"):
        enhance_storage(MemoryStorage(), migrations={bad: _add_role})


def test_a_migration_that_is_not_callable_is_a_type_error() -> None:
    bad: Any = {1: "not callable"}
    with pytest.raises(TypeError, match=r"migrations\[1\] must be callable"):
        enhance_storage(MemoryStorage(), migrations=bad)


@pytest.mark.parametrize("bad", [0, -5, 10**15 + 1])
def test_an_out_of_range_ttl_ms_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="option 'ttl_ms' must be from 1 to"):
        enhance_storage(MemoryStorage(), ttl_ms=bad)


@pytest.mark.parametrize("bad", [True, 1.5, "100"], ids=repr)
def test_a_ttl_ms_of_the_wrong_type_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="option 'ttl_ms' must be a whole number"):
        enhance_storage(MemoryStorage(), ttl_ms=bad)


@pytest.mark.parametrize("raw", [{"__v": 0}, {"__v": 3}, {"__v": 0, "__exp": NOW + 9}])
async def test_an_envelope_without_data_reads_as_missing(raw: Any) -> None:
    # What @puregram/storage writes for set(key, undefined): JSON.stringify drops data.
    base = IterablePlainStorage({"k": raw})
    storage = enhance_storage(base, clock=Clock())
    assert await storage.get("k") is None
    assert not await storage.has("k")
    assert is_iterable_storage(storage)
    assert [key async for key in storage.keys()] == []


@pytest.mark.parametrize("method", ["get", "set", "delete", "has", "touch", "get_and_touch"])
@pytest.mark.parametrize("bad", [1, b"k", None], ids=repr)
async def test_non_str_key_is_rejected_before_the_base_is_reached(method: str, bad: Any) -> None:
    base = TouchStorage({"1": "one"})  # a base that checks nothing itself
    storage = enhance_storage(base)
    call: Any = getattr(storage, method)
    with pytest.raises(TypeError, match="keys must be str"):
        await (call(bad, "v") if method == "set" else call(bad))
    assert base.data == {"1": "one"}
    assert base.writes == 0
    assert base.touched == []
