"""Iteration with SCAN/MGET: prefix isolation, cluster coverage, races, bounded memory."""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from puregram.storage_redis import RedisStorage
from puregram.storage_redis._scan import (
    EXACT_LENGTH,
    SCAN_COUNT,
    SCAN_COUNT_MAX,
    Once,
    _scan_node,
    escape_glob,
)
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


@pytest.mark.parametrize("kind", [bytes, str], ids=["bytes", "str"])
def test_once_tells_long_names_apart_by_a_salted_digest(kind: type) -> None:
    """Names longer than EXACT_LENGTH are remembered by 128 bits of a salted SHA-256:
    names differing in one character far from the start are both new, a repeat is not,
    and the marks of two iterations differ (a fresh salt per call)."""
    base = "p:" + "x" * 2_000
    names = [base + "a", base + "b", "b" + base[1:] + "a"]
    raws = [name.encode() if kind is bytes else name for name in names]
    once = Once()
    assert [once.first(raw) for raw in raws] == [True, True, True]
    once.new_batch()
    assert [once.first(raw) for raw in raws] == [False, False, False]
    mark = once.mark(raws[0])
    assert isinstance(mark, int)
    assert 0 <= mark < 2**128
    assert Once().mark(raws[0]) != mark, "the salt is drawn per iteration"
    short: Any = ("k" * EXACT_LENGTH).encode() if kind is bytes else "k" * EXACT_LENGTH
    longer = short + short[:1]
    assert once.mark(short) is short, "a short name is remembered as it is"
    assert isinstance(once.mark(longer), int)


def test_once_holds_no_long_name() -> None:
    """What a full Once holds does not grow with the name length."""
    sizes = []
    for length in (100, 10_000):
        tracemalloc.start()
        try:
            once = Once()
            for index in range(2_000):
                once.first(f"{index:05d}".encode() * (length // 5))
            sizes.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
        del once
    assert sizes[1] < sizes[0] * 1.2, sizes


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


class CountingScans:
    """A real client that counts the SCANs it sends (a spy: every command reaches Redis)."""

    def __init__(self, client: Redis) -> None:
        self.client: Any = client
        self.scans = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.scans += args[0] == "SCAN"
        return await self.client.execute_command(*args, **options)


async def test_a_narrow_prefix_is_listed_in_few_round_trips(client: Redis, prefix: str) -> None:
    """A namespace of 40 keys among 20,000 others: every key of it is listed, in far fewer
    SCANs than a fixed COUNT of SCAN_COUNT would take (the hint grows while replies are
    sparse). The server still visits every key: Redis has no index of prefixes."""
    pipe = client.pipeline(transaction=False)
    for index in range(20_000):
        pipe.set(f"{prefix}other:{index}", "1")
    await pipe.execute()
    spy = CountingScans(client)
    store: RedisStorage[int] = RedisStorage(client=spy, prefix=prefix)  # type: ignore[arg-type]
    for index in range(40):
        await store.set(f"ns:{index}", index)
    keyspace = int(await client.dbsize())
    assert sorted([key async for key in store.keys(prefix="ns:")]) == sorted(
        f"ns:{index}" for index in range(40)
    )
    fixed = CountingScans(client)  # the same walk with the hint fixed at SCAN_COUNT
    assert await _raw_scan_loop(fixed, f"{prefix}ns:*", values=False) == 40
    # The dict holds up to 2 slots per key; a few replies ramp the hint up to the cap.
    assert spy.scans <= 2 * keyspace // SCAN_COUNT_MAX + 6
    assert spy.scans <= fixed.scans // 2
    assert {key: value async for key, value in store.entries(prefix="ns:")} == {
        f"ns:{index}": index for index in range(40)
    }
    for start in range(0, 20_000, 1_000):
        await client.unlink(*(f"{prefix}other:{index}" for index in range(start, start + 1_000)))


async def test_a_dense_reply_is_split_and_shrinks_the_hint() -> None:
    """A scripted SCAN (a fake by design: a real server answers a reply this dense only
    after a sparse stretch, by chance): a reply of 1,300 keys reaches the caller in
    batches of at most SCAN_COUNT, so no MGET asks for more, and the hint is halved."""
    sent: list[int] = []
    replies = [(7, [f"k{index}" for index in range(100)]), (9, [f"d{i}" for i in range(1_300)])]
    replies.append((0, ["last"]))

    async def run(*args: Any) -> Any:
        sent.append(int(args[5]))
        return replies[len(sent) - 1]

    batches = [batch async for batch in _scan_node(run, "*", None)]
    assert [len(batch) for batch in batches] == [100, 500, 500, 300, 1]
    assert sent == [SCAN_COUNT, 2 * SCAN_COUNT, SCAN_COUNT]


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


async def _raw_scan_loop(client: Any, pattern: str, *, values: bool) -> int:
    """The loop a caller would write with redis-py alone: SCAN (every primary of a
    cluster), each name decoded, and with ``values`` one MGET per batch."""
    cluster = isinstance(client, RedisCluster)
    count = 0
    nodes: list[Any] = client.get_primaries() if cluster else [None]
    for node in nodes:
        options = {"target_nodes": node} if cluster else {}
        cursor: Any = 0
        while True:
            cursor, batch = await client.execute_command(
                "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, **options
            )
            cursor = cursor[node.name] if isinstance(cursor, dict) else cursor
            found = [None] * len(batch)
            if values and batch:
                found = await (client.mget_nonatomic(batch) if cluster else client.mget(batch))
            for raw, text in zip(batch, found, strict=True):
                count += len(raw.decode()) > 0 and (not values or text is not None)
            if int(cursor) == 0:
                break
    return count


async def _traced_peak(walk: Any) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = await walk()
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def _long_keys_stay_within_twice_a_raw_scan(
    client: Any, prefix: str, *, walks: tuple[str, ...] = ("keys", "entries")
) -> None:
    """15,000 keys of 2,000 characters: keys() and entries() peak at most 2x the raw loop.

    Before digests, remembering 10,000 whole names cost 20 MB against the raw loop's 3."""
    total = 15_000
    names = [f"{prefix}{index:05d}:".ljust(len(prefix) + 2_000, "x") for index in range(total)]
    try:
        for start in range(0, total, 500):
            chunk = {name: str(index) for index, name in enumerate(names[start : start + 500])}
            await (
                client.mset_nonatomic(chunk)
                if isinstance(client, RedisCluster)
                else client.mset(chunk)
            )
        store: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)
        pattern = escape_glob(prefix) + "*"

        async def keys() -> int:
            return sum([1 async for _ in store.keys()])

        async def entries() -> int:
            return sum([1 async for _ in store.entries()])

        await keys()  # warm: every node connected, the slot table known
        for ours, values in ((keys, False), (entries, True)):
            if ours.__name__ not in walks:
                continue
            raw_count, raw_peak = await _traced_peak(
                lambda values=values: _raw_scan_loop(client, pattern, values=values)
            )
            count, peak = await _traced_peak(ours)
            assert raw_count == count == total
            assert peak <= 2 * raw_peak, (ours.__name__, peak, raw_peak)
    finally:
        for start in range(0, total, 1_000):
            pipe = client.pipeline(transaction=False)
            for name in names[start : start + 1_000]:
                pipe.delete(name)  # one key per DEL: no CROSSSLOT on a cluster
            await pipe.execute()


async def test_long_keys_cost_no_more_than_twice_a_raw_scan(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    """A dedicated server: 30 MB of names never slow the other tests' SCANs."""
    client = Redis.from_url(redis_server.url)
    try:
        await _long_keys_stay_within_twice_a_raw_scan(client, "long:")
    finally:
        await client.aclose()


async def test_long_keys_cost_no_more_than_twice_a_raw_scan_on_a_cluster(
    anyio_backend: str, prefix: str, client_factory: Any
) -> None:
    """keys() only: entries() adds the same MGETs as on one server, and traced cluster
    MGETs are slow (the benchmark measures them)."""
    client: RedisCluster = client_factory("cluster")
    try:
        await _long_keys_stay_within_twice_a_raw_scan(client, prefix, walks=("keys",))
    finally:
        await client.aclose()
