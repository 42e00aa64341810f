"""Peak memory and time per key of RedisStorage iteration against a raw SCAN loop.

    hatch run python packages/storage-redis/benchmarks/bench_iteration_memory.py [--quick]
        [--url redis://...] [--cluster-url redis://...] [--no-cluster]

Fills 15,000 keys of 2,000 characters (and, for contrast, 15,000 keys of 20 characters)
under one prefix, on one server and on a 3-primary cluster, then walks them four ways:

- raw ``keys``: ``SCAN MATCH prefix* COUNT 500`` until the cursor is 0 (on a cluster, on
  every primary), each key decoded and its prefix cut off: the least a caller can do;
- ``storage.keys()``;
- raw ``entries``: the same SCAN loop plus one ``MGET`` per batch (``mget_nonatomic`` on a
  cluster) and ``json.loads`` of every value;
- ``storage.entries()``.

Peak memory is ``tracemalloc``'s peak over one walk (started on a warm client, so it
counts what the walk allocates: replies, keys, the store's de-duplication set); time per
key comes from untraced walks, raw and store interleaved round by round, best round.
Without ``--url``/``--cluster-url`` the servers come from ``tools/redis_harness.py``.
Nothing is asserted; ``tests/test_iteration.py`` asserts the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root, for tools/

from redis.asyncio import Redis, RedisCluster

from puregram.storage_redis import RedisStorage

PREFIX = "bench-iter:"
KEYS = 15_000
SCAN_COUNT = 500
Walk = Callable[[], AsyncIterator[Any]]


async def _scan(client: Any, pattern: str) -> AsyncIterator[list[Any]]:
    """Raw ``SCAN`` replies: the loop a caller would write by hand."""
    nodes: list[Any] = client.get_primaries() if isinstance(client, RedisCluster) else [None]
    for node in nodes:
        options = {} if node is None else {"target_nodes": node}
        cursor: Any = 0
        while True:
            cursor, batch = await client.execute_command(
                "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, **options
            )
            if isinstance(cursor, dict):
                cursor = cursor[node.name]
            yield batch
            if int(cursor) == 0:
                break


def _text(raw: Any) -> str:
    return (raw.decode() if isinstance(raw, bytes) else raw)[len(PREFIX) :]


async def raw_keys(client: Any) -> AsyncIterator[str]:
    async for batch in _scan(client, PREFIX + "*"):
        for raw in batch:
            yield _text(raw)


async def raw_entries(client: Any) -> AsyncIterator[tuple[str, Any]]:
    async for batch in _scan(client, PREFIX + "*"):
        if not batch:
            continue
        if isinstance(client, RedisCluster):
            found = await client.mget_nonatomic(batch)
        else:
            found = await client.execute_command("MGET", *batch)
        for raw, text in zip(batch, found, strict=True):
            if text is not None:
                yield _text(raw), json.loads(text)


async def _count(walk: Walk) -> int:
    count = 0
    async for _ in walk():
        count += 1
    return count


async def _peak(walk: Walk) -> tuple[int, int]:
    """(keys walked, tracemalloc peak in bytes) of one walk."""
    tracemalloc.start()
    try:
        count = await _count(walk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


async def _fill(client: Any, length: int) -> None:
    await _clear(client)
    for start in range(0, KEYS, 500):
        mapping = {}
        for index in range(start, min(start + 500, KEYS)):
            head = f"{PREFIX}user:{index:05d}:"
            mapping[head + "x" * (len(PREFIX) + length - len(head))] = str(index)
        if isinstance(client, RedisCluster):
            await client.mset_nonatomic(mapping)
        else:
            await client.mset(mapping)


async def _clear(client: Any) -> None:
    batch: list[Any] = []
    async for keys in _scan(client, PREFIX + "*"):
        batch.extend(keys)
    for start in range(0, len(batch), 500):
        for key in batch[start : start + 500]:
            await client.delete(key)  # one key per DEL: no CROSSSLOT on a cluster


Row = tuple[str, int, int, float, float]


async def measure(client: Any, *, rounds: int) -> list[Row]:
    """Per walk (keys, entries): peaks and best µs/key of raw and store."""
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=PREFIX)
    pairs: list[tuple[str, Walk, Walk]] = [
        ("keys", lambda: raw_keys(client), store.keys),
        ("entries", lambda: raw_entries(client), store.entries),
    ]
    rows: list[Row] = []
    for name, raw, ours in pairs:
        await _count(raw)  # warm-up: connections to every node, the slot table
        await _count(ours)
        count, raw_peak = await _peak(raw)
        ours_count, our_peak = await _peak(ours)
        assert count == ours_count == KEYS, (name, count, ours_count)
        raw_times: list[float] = []
        our_times: list[float] = []
        for _ in range(rounds):
            for walk, times in ((raw, raw_times), (ours, our_times)):
                start = time.perf_counter()
                await _count(walk)
                times.append((time.perf_counter() - start) / KEYS * 1e6)
        rows.append((name, raw_peak, our_peak, min(raw_times), min(our_times)))
    return rows


async def run(urls: dict[str, str], *, rounds: int) -> list[tuple[str, int, Row]]:
    results: list[tuple[str, int, Row]] = []
    for where, url in urls.items():
        client: Any = (RedisCluster if where == "cluster" else Redis).from_url(url)
        try:
            for length in (2_000, 20):
                await _fill(client, length)
                for row in await measure(client, rounds=rounds):
                    results.append((where, length, row))
            await _clear(client)
        finally:
            await client.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Redis server to use (default: start one)")
    parser.add_argument("--cluster-url", help="a Redis Cluster node (default: start a cluster)")
    parser.add_argument("--no-cluster", action="store_true", help="measure one server only")
    parser.add_argument("--quick", action="store_true", help="3 timing rounds instead of 7")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    from tools.redis_harness import HARNESS

    started = False
    try:
        urls: dict[str, str] = {}
        if args.url is None:
            started = True
            urls["server"] = HARNESS.server().url
        else:
            urls["server"] = args.url
        if not args.no_cluster:
            if args.cluster_url is None:
                started = True
                urls["cluster"] = HARNESS.cluster().url
            else:
                urls["cluster"] = args.cluster_url
        results = asyncio.run(run(urls, rounds=rounds))
    finally:
        if started:
            HARNESS.stop_all()
    mib = 1024 * 1024
    print(
        f"{KEYS:,} keys under one prefix, SCAN COUNT {SCAN_COUNT}; peak = tracemalloc "
        f"peak of one walk; µs/key = best of {rounds} untraced walks, raw and store "
        "interleaved."
    )
    print()
    print(
        "| where | key length | walk | raw peak (MiB) | RedisStorage peak (MiB) | peak ratio "
        "| raw µs/key | RedisStorage µs/key | time ratio |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for where, length, (name, raw_peak, our_peak, raw_us, our_us) in results:
        print(
            f"| {where} | {length:,} | {name} | {raw_peak / mib:.2f} | {our_peak / mib:.2f} "
            f"| {our_peak / raw_peak:.2f}x | {raw_us:.2f} | {our_us:.2f} | {our_us / raw_us:.2f}x |"
        )


if __name__ == "__main__":
    main()
