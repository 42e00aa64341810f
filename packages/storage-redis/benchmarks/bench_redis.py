"""RedisStorage against raw redis-py plus json, on the same server and client.

    hatch run python packages/storage-redis/benchmarks/bench_redis.py [--url redis://...]

Without ``--url`` it starts a redis-server through ``tools/redis_harness.py`` and stops
it at the end. Each round times every pair of operations back to back (raw, store, raw,
store, ...) so that drift hits both alike; the table shows the best round in µs per
operation, the ratio of the bests, and the median of the per-round ratios store / raw.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root, for tools/

from redis.asyncio import Redis

from puregram.storage_redis import RedisStorage

VALUE = {"counter": 42, "name": "Ada", "tags": ["admin", "beta"], "last": 1_732_000_000_000}
Op = Callable[[], Awaitable[Any]]


async def _time(op: Op, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await op()
    return (time.perf_counter() - start) / n * 1e6


async def run(url: str, *, n: int, rounds: int) -> list[tuple[str, float, float, float, float]]:
    client = Redis.from_url(url)
    store: RedisStorage[Any] = RedisStorage(client=client, prefix="bench:")
    ttl_store: RedisStorage[Any] = RedisStorage(client=client, prefix="bench:", ttl_ms=60_000)
    await store.set("k", VALUE)

    async def raw_get() -> Any:
        raw = await client.get("bench:k")
        return None if raw is None else json.loads(raw)

    async def raw_set() -> Any:
        return await client.set("bench:k", json.dumps(VALUE))

    async def raw_set_ttl() -> Any:
        return await client.set("bench:k", json.dumps(VALUE), px=60_000)

    pairs: list[tuple[str, Op, Op]] = [
        ("get", raw_get, lambda: store.get("k")),
        ("set", raw_set, lambda: store.set("k", VALUE)),
        ("set with ttl_ms", raw_set_ttl, lambda: ttl_store.set("k", VALUE)),
    ]
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _, _ in pairs}
    try:
        for _, raw, ours in pairs:  # warm-up: connections, caches
            await _time(raw, n // 10)
            await _time(ours, n // 10)
        for _ in range(rounds):
            for name, raw, ours in pairs:
                times[name][0].append(await _time(raw, n))
                times[name][1].append(await _time(ours, n))
    finally:
        await client.delete("bench:k")
        await client.aclose()
    rows = []
    for name, (raw_times, our_times) in times.items():
        raw_best, our_best = min(raw_times), min(our_times)
        # The median of per-round ratios: each round's pair ran back to back, so a slow
        # spell of the machine hits both sides of a ratio alike.
        paired = statistics.median(o / r for r, o in zip(raw_times, our_times, strict=True))
        rows.append((name, raw_best, our_best, our_best / raw_best, paired))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Redis server to use (default: start one)")
    parser.add_argument("-n", type=int, default=500, help="operations per timing")
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    harness = None
    url = args.url
    if url is None:
        from tools.redis_harness import HARNESS

        harness = HARNESS
        url = harness.server().url
    try:
        rows = asyncio.run(run(url, n=args.n, rounds=args.rounds))
    finally:
        if harness is not None:
            harness.stop_all()
    print(f"{args.rounds} interleaved rounds of {args.n} operations, one connection, {url}")
    print()
    print(
        "| operation | raw redis-py + json (µs/op, best) | RedisStorage (µs/op, best) "
        "| ratio (best) | ratio (median of rounds) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, raw, ours, best, median in rows:
        print(f"| {name} | {raw:.1f} | {ours:.1f} | {best:.3f}x | {median:.3f}x |")


if __name__ == "__main__":
    main()
