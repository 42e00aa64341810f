"""LruMemoryStorage: at most ``max`` entries, the least recently used evicted first.

That every operation is O(1) is a design claim (an ``OrderedDict`` and ``move_to_end``),
shown by the benchmark, not asserted here.
"""

from typing import Any

import pytest

from puregram.storage import LruMemoryStorage

pytestmark = pytest.mark.anyio


async def _filled(*keys: str, max: int = 3) -> LruMemoryStorage[str]:  # noqa: A002
    storage: LruMemoryStorage[str] = LruMemoryStorage(max=max)
    for key in keys:
        await storage.set(key, key.upper())
    return storage


async def _order(storage: LruMemoryStorage[Any]) -> list[str]:
    return [key async for key in storage.keys()]


async def test_holds_up_to_max_entries() -> None:
    storage = await _filled("a", "b", "c")
    assert storage.size == 3
    assert len(storage) == 3
    assert storage.max == 3


async def test_setting_max_plus_one_evicts_the_least_recently_used() -> None:
    storage = await _filled("a", "b", "c")
    await storage.set("d", "D")
    assert storage.size == 3
    assert not await storage.has("a")
    assert await storage.get("a") is None
    assert await _order(storage) == ["b", "c", "d"]


async def test_overwriting_a_key_evicts_nothing() -> None:
    storage = await _filled("a", "b", "c")
    await storage.set("a", "A2")
    assert storage.size == 3
    assert await _order(storage) == ["b", "c", "a"]
    assert await storage.get("a") == "A2"


async def test_max_one_keeps_only_the_latest() -> None:
    storage = await _filled("a", "b", max=1)
    assert await _order(storage) == ["b"]


async def test_get_of_a_present_key_bumps_recency() -> None:
    storage = await _filled("a", "b", "c")
    assert await storage.get("a") == "A"
    await storage.set("d", "D")
    assert await _order(storage) == ["c", "a", "d"]
    assert not await storage.has("b")


async def test_get_bumps_a_stored_none() -> None:
    storage: LruMemoryStorage[str | None] = LruMemoryStorage(max=2)
    await storage.set("a", None)
    await storage.set("b", "B")
    assert await storage.get("a") is None
    await storage.set("c", "C")
    assert await _order(storage) == ["a", "c"]


async def test_set_bumps_recency() -> None:
    storage = await _filled("a", "b", "c")
    await storage.set("a", "A2")
    await storage.set("d", "D")
    assert await _order(storage) == ["c", "a", "d"]


async def test_has_does_not_bump_recency() -> None:
    storage = await _filled("a", "b", "c")
    assert await storage.has("a")
    await storage.set("d", "D")
    assert not await storage.has("a")


async def test_delete_does_not_bump_recency_of_others() -> None:
    storage = await _filled("a", "b", "c")
    await storage.delete("b")
    await storage.delete("missing")
    assert await _order(storage) == ["a", "c"]
    await storage.set("d", "D")  # room for it: nothing evicted
    await storage.set("e", "E")
    assert await _order(storage) == ["c", "d", "e"]


async def test_iteration_does_not_bump_recency() -> None:
    storage = await _filled("a", "b", "c")
    assert [entry async for entry in storage.entries()] == [("a", "A"), ("b", "B"), ("c", "C")]
    assert [value async for value in storage.values()] == ["A", "B", "C"]
    await storage.set("d", "D")
    assert await _order(storage) == ["b", "c", "d"]


async def test_get_of_a_missing_key_disturbs_nothing() -> None:
    storage = await _filled("a", "b", "c")
    assert await storage.get("missing") is None
    assert storage.size == 3
    assert await _order(storage) == ["a", "b", "c"]
    assert not await storage.has("missing")


async def test_iteration_runs_from_least_to_most_recent() -> None:
    storage = await _filled("a", "b", "c", max=10)
    await storage.get("a")
    await storage.set("b", "B2")
    assert await _order(storage) == ["c", "a", "b"]


async def test_iteration_tolerates_changes_while_running() -> None:
    storage = await _filled("a", "b", "c")
    seen = []
    async for key in storage.keys():
        seen.append(key)
        if key == "a":
            await storage.set("d", "D")  # evicts "a", already visited
            await storage.delete("b")
    assert seen == ["a", "c"]
    assert await _order(storage) == ["c", "d"]


async def test_none_is_a_value() -> None:
    storage: LruMemoryStorage[str | None] = LruMemoryStorage(max=2)
    await storage.set("k", None)
    assert await storage.has("k")
    assert await storage.get("k") is None


async def test_values_are_kept_by_reference() -> None:
    storage: LruMemoryStorage[list[int]] = LruMemoryStorage(max=2)
    value = [1]
    await storage.set("k", value)
    value.append(2)
    assert await storage.get("k") is value


@pytest.mark.parametrize("bad", [0, -1, 2**53])
def test_max_out_of_range_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match=f"option 'max' must be from 1 to {2**53 - 1}, got {bad}"):
        LruMemoryStorage(max=bad)


@pytest.mark.parametrize("bad", [True, 1.5, "10", None])
def test_max_that_is_not_an_int_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="option 'max' must be an int"):
        LruMemoryStorage(max=bad)


@pytest.mark.parametrize("method", ["get", "set", "delete", "has"])
@pytest.mark.parametrize("bad", [1, b"a", None, ("a",)], ids=repr)
async def test_non_str_key_is_rejected_and_nothing_changes(method: str, bad: Any) -> None:
    storage = await _filled("a", "b", "c")
    call: Any = getattr(storage, method)
    with pytest.raises(TypeError, match="keys must be str"):
        await (call(bad, "value") if method == "set" else call(bad))
    assert [entry async for entry in storage.entries()] == [("a", "A"), ("b", "B"), ("c", "C")]


def test_repr_shows_max_and_size() -> None:
    assert repr(LruMemoryStorage(max=5)) == "LruMemoryStorage(max=5, size=0)"
