"""Iteration with SCAN/MGET: prefix isolation, cluster coverage, races, bounded memory."""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from puregram.storage_redis import RedisStorage
from puregram.storage_redis._scan import SCAN_COUNT, Once, escape_glob
from tools.redis_harness import RedisServer

pytestmark = pytest.mark.anyio


def test_escape_glob_escapes_every_glob_character() -> None:
    assert escape_glob("a*b?c[d]e\\f:") == "a\\*b\\?c\\[d\\]e\\\\f:"
    assert escape_glob("plain:") == "plain:"


def test_once_drops_duplicates_and_stays_bounded() -> None:
    once = Once(limit=2)
    assert [once.first(key) for key in ("a", "b", "a", "c", "c")] == [
        True,
        True,
        False,
        True,
        False,  # past the limit, still dropped within one batch
    ]
    once.new_batch()
    assert once.first("b") is False, "the first keys are remembered for the whole call"
    assert once.first("c") is True, "past the limit, only the current batch is remembered"


async def _contents(store: RedisStorage[Any]) -> tuple[list[str], dict[str, Any], list[Any]]:
    keys = sorted([key async for key in store.keys()])
    entries = {key: value async for key, value in store.entries()}
    values = sorted([value async for value in store.values()], key=repr)
    return keys, entries, values


@pytest.mark.parametrize(
    ("glob_prefix", "plain_prefix"),
    [
        ("[ab]?*\\:", "bzzz:"),  # unescaped, the first matches every key of the second
        ("x?", "xy"),
        ("*", "anything:"),
    ],
)
async def test_prefixes_with_glob_characters_isolate_completely(
    any_client: Redis | RedisCluster, prefix: str, glob_prefix: str, plain_prefix: str
) -> None:
    globbed: RedisStorage[Any] = RedisStorage(client=any_client, prefix=prefix + glob_prefix)
    plain: RedisStorage[Any] = RedisStorage(client=any_client, prefix=prefix + plain_prefix)
    for index in range(30):
        await globbed.set(f"k{index}", {"store": "globbed", "index": index})
        await plain.set(f"k{index}", {"store": "plain", "index": index})
    await plain.set("only-plain", 1)

    keys, entries, values = await _contents(globbed)
    assert keys == sorted(f"k{index}" for index in range(30))
    assert {value["store"] for value in entries.values()} == {"globbed"}
    assert len(values) == 30
    assert {value["store"] for value in values} == {"globbed"}

    keys, entries, _ = await _contents(plain)
    assert len(keys) == 31
    assert {value["store"] for value in entries.values() if isinstance(value, dict)} == {"plain"}

    await globbed.delete("k0")
    await globbed.delete("only-plain")
    assert await plain.get("k0") == {"store": "plain", "index": 0}
    assert await plain.has("only-plain")
    assert not await globbed.has("only-plain")


@pytest.mark.parametrize("kind", ["cluster", "cluster-decoded"])
async def test_cluster_iteration_covers_every_primary(
    kind: str, prefix: str, client_factory: Any
) -> None:
    client: RedisCluster = client_factory(kind)
    try:
        store: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)
        expected = {f"user:{index}": index for index in range(3 * SCAN_COUNT)}
        pipe = client.pipeline(transaction=False)
        for key, value in expected.items():
            pipe.set(prefix + key, str(value))
        await pipe.execute()
        owners = {getattr(client.get_node_from_key(prefix + key), "name", None) for key in expected}
        assert len(owners) == 3, "the sample must land on every primary"
        assert {key: value async for key, value in store.entries()} == expected
        assert sorted([key async for key in store.keys()]) == sorted(expected)
        assert sum([value async for value in store.values()]) == sum(expected.values())
    finally:
        await client.aclose()


class DeleteBeforeMget:
    """A real client whose MGET is preceded by a DEL of the batch's first key.

    A fake by design: it reproduces, on demand, a race a real server only shows by
    chance (another client deleting a key between our SCAN and our MGET).
    """

    def __init__(self, client: Redis) -> None:
        self.client: Any = client
        self.deleted: list[Any] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if args[0] == "MGET":
            self.deleted.append(args[1])
            await self.client.execute_command("DEL", args[1])
        return await self.client.execute_command(*args, **options)


async def test_a_key_deleted_between_scan_and_mget_is_skipped(client: Redis, prefix: str) -> None:
    racing = DeleteBeforeMget(client)
    store: RedisStorage[int] = RedisStorage(client=racing, prefix=prefix)  # type: ignore[arg-type]
    for index in range(50):
        await store.set(f"k{index}", index)
    entries = {key: value async for key, value in store.entries()}
    assert len(racing.deleted) >= 1
    deleted = {raw.decode()[len(prefix) :] for raw in racing.deleted}
    assert set(entries) == {f"k{index}" for index in range(50)} - deleted
    assert all(entries[key] == int(key[1:]) for key in entries)


async def test_breaking_out_of_an_iteration_is_fine(client: Redis, prefix: str) -> None:
    store: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)
    for index in range(20):
        await store.set(f"k{index}", index)
    iterator = store.entries()
    first = await iterator.__anext__()
    await iterator.aclose()
    assert await store.get(first[0]) == first[1]


async def test_iterating_100_000_keys_keeps_memory_bounded(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    """A dedicated server, so the 100,000 keys never slow other tests' SCANs."""
    total = 100_000
    prefix = "bulk:"
    client = Redis.from_url(redis_server.url)
    try:
        pipe = client.pipeline(transaction=False)
        for start in range(0, total, 1_000):
            pipe.mset({f"{prefix}user:{index:06d}": index for index in range(start, start + 1_000)})
        await pipe.execute()
        await client.set("other:user:000001", "not mine")
        store: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)

        # What holding every key would cost: one str per key plus a list slot.
        holding_all_keys = total * (sys.getsizeof("user:000000") + 8)

        count = 0
        async for key in store.keys():
            count += key.startswith("user:")
        assert count == total

        # entries() does all that keys() does plus the MGETs; tracing it (tracemalloc makes
        # this ~10x slower) bounds both.
        tracemalloc.start()
        try:
            entries = 0
            checksum = 0
            async for key, value in store.entries():
                entries += 1
                checksum += value + int(key[5:])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert entries == total
        assert checksum == 2 * sum(range(total))
        assert peak < holding_all_keys / 3, (peak, holding_all_keys)
    finally:
        await client.aclose()
