"""MemoryStorage: an unbounded dict behind the async contract."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio

BAD_KEYS: list[Any] = [1, 1.5, b"bytes", None, ("t",), True]


async def _keys(storage: MemoryStorage[Any]) -> list[str]:
    return [key async for key in storage.keys()]


async def test_seeded_from_pairs() -> None:
    storage = MemoryStorage([("a", "1"), ("b", "2")])
    assert storage.size == 2
    assert await storage.get("a") == "1"
    assert await storage.get("b") == "2"


async def test_seeded_from_a_mapping() -> None:
    storage = MemoryStorage({"a": 1, "b": 2})
    assert len(storage) == 2
    assert await _keys(storage) == ["a", "b"]


async def test_seeded_from_a_generator_of_pairs() -> None:
    storage = MemoryStorage((f"k{i}", i) for i in range(3))
    assert [entry async for entry in storage.entries()] == [("k0", 0), ("k1", 1), ("k2", 2)]


async def test_later_seed_pair_wins_over_an_earlier_one() -> None:
    storage = MemoryStorage([("a", 1), ("a", 2)])
    assert storage.size == 1
    assert await storage.get("a") == 2


async def test_starts_empty() -> None:
    storage: MemoryStorage[int] = MemoryStorage()
    assert storage.size == 0
    assert len(storage) == 0
    assert await _keys(storage) == []


async def test_size_and_len_follow_sets_and_deletes() -> None:
    storage: MemoryStorage[int] = MemoryStorage()
    await storage.set("a", 1)
    await storage.set("b", 2)
    await storage.set("a", 3)  # an overwrite adds nothing
    assert (storage.size, len(storage)) == (2, 2)
    await storage.delete("a")
    await storage.delete("missing")
    assert (storage.size, len(storage)) == (1, 1)


async def test_none_is_a_value() -> None:
    storage: MemoryStorage[int | None] = MemoryStorage()
    await storage.set("k", None)
    assert await storage.has("k")
    assert await storage.get("k") is None
    assert storage.size == 1
    assert [entry async for entry in storage.entries()] == [("k", None)]
    assert [value async for value in storage.values()] == [None]


async def test_missing_key_reads_as_none_and_has_is_false() -> None:
    storage: MemoryStorage[int] = MemoryStorage()
    assert await storage.get("nope") is None
    assert not await storage.has("nope")


async def test_values_are_kept_by_reference() -> None:
    storage: MemoryStorage[dict[str, int]] = MemoryStorage()
    value = {"counter": 1}
    await storage.set("k", value)
    value["counter"] = 2
    got = await storage.get("k")
    assert got is value
    assert got == {"counter": 2}


async def test_values_are_not_serialized() -> None:
    """Anything goes in memory, even what JSON cannot hold: nothing is encoded."""
    storage: MemoryStorage[object] = MemoryStorage()
    marker = object()
    await storage.set("set", {1, 2})
    await storage.set("object", marker)
    assert await storage.get("set") == {1, 2}
    assert await storage.get("object") is marker


async def test_iteration_runs_in_insertion_order() -> None:
    storage: MemoryStorage[int] = MemoryStorage([("b", 1)])
    await storage.set("a", 2)
    await storage.set("c", 3)
    await storage.set("b", 4)  # an overwrite keeps the key's place
    assert await _keys(storage) == ["b", "a", "c"]
    assert [value async for value in storage.values()] == [4, 2, 3]
    assert [entry async for entry in storage.entries()] == [("b", 4), ("a", 2), ("c", 3)]


async def test_a_reinserted_key_moves_to_the_end() -> None:
    storage = MemoryStorage({"a": 1, "b": 2})
    await storage.delete("a")
    await storage.set("a", 3)
    assert await _keys(storage) == ["b", "a"]


async def test_reads_change_no_order() -> None:
    storage = MemoryStorage({"a": 1, "b": 2})
    await storage.get("a")
    await storage.has("a")
    assert await _keys(storage) == ["a", "b"]


async def test_keys_tolerate_deletes_and_sets_while_running() -> None:
    storage = MemoryStorage({"a": 1, "b": 2, "c": 3})
    seen = []
    async for key in storage.keys():
        seen.append(key)
        if key == "a":
            await storage.delete("b")  # not yet visited: skipped
            await storage.set("d", 4)  # added meanwhile: not visited
            await storage.set("c", 30)  # changed meanwhile: still visited once
    assert seen == ["a", "c"]
    assert await _keys(storage) == ["a", "c", "d"]


async def test_entries_tolerate_deletes_and_sets_while_running() -> None:
    storage = MemoryStorage({"a": 1, "b": 2, "c": 3})
    seen = []
    async for key, value in storage.entries():
        seen.append((key, value))
        if key == "a":
            await storage.delete("a")  # already visited
            await storage.delete("b")
            await storage.set("c", 30)
            await storage.set("z", 26)
    assert seen == [("a", 1), ("c", 30)]


async def test_values_tolerate_deletes_while_running() -> None:
    storage = MemoryStorage({"a": 1, "b": 2, "c": 3})
    seen = []
    async for value in storage.values():
        seen.append(value)
        await storage.delete("b")
    assert seen == [1, 3]


async def test_deleting_everything_while_iterating_ends_the_walk() -> None:
    storage = MemoryStorage({str(i): i for i in range(10)})
    seen = []
    async for key in storage.keys():
        seen.append(key)
        for other in await _keys(storage):
            await storage.delete(other)
    assert seen == ["0"]
    assert storage.size == 0


def _methods(storage: MemoryStorage[Any]) -> dict[str, Callable[[Any], Awaitable[object]]]:
    return {
        "get": storage.get,
        "set": lambda key: storage.set(key, "value"),
        "delete": storage.delete,
        "has": storage.has,
    }


@pytest.mark.parametrize("method", ["get", "set", "delete", "has"])
@pytest.mark.parametrize("bad", BAD_KEYS, ids=repr)
async def test_non_str_key_is_rejected_and_nothing_changes(method: str, bad: Any) -> None:
    storage = MemoryStorage({"1": "one", "None": "none"})
    with pytest.raises(TypeError, match=r"keys must be str, got " + type(bad).__name__):
        await _methods(storage)[method](bad)
    assert [entry async for entry in storage.entries()] == [("1", "one"), ("None", "none")]


@pytest.mark.parametrize("bad", BAD_KEYS, ids=repr)
def test_non_str_key_in_the_seed_is_rejected(bad: Any) -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        MemoryStorage([("good", 1), (bad, 2)])
    with pytest.raises(TypeError, match="keys must be str"):
        MemoryStorage({bad: 1})


def test_a_str_subclass_is_a_key() -> None:
    class Key(str):
        pass

    storage = MemoryStorage([(Key("a"), 1)])
    assert storage.size == 1


def test_repr_shows_the_size() -> None:
    assert repr(MemoryStorage({"a": 1})) == "MemoryStorage(size=1)"
