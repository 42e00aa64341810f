"""Hits per second through the limiter over each store, against that store's raw floor.

Run from the repository root (``--rounds N``, ``--quick``, ``--redis-url URL``)::

    hatch run python packages/rate-limit/benchmarks/bench_rate_limit.py

Each pair (floor, limiter) runs in interleaved rounds in one
process and the best round counts, so machine noise hits both alike. Floors:

- memory: an inline dict ``get`` + ``set`` of the ``{"hits", "resetAt"}`` entry, the same
  work the limiter does over ``MemoryStorage`` minus its layers;
- SQLite: the bare ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` counter statement and
  its commit, on the stdlib driver, against a real file;
- Redis: the bare counter script (``EVALSHA``) and a bare ``INCR``, one round trip each,
  through the same redis-py client; needs ``redis-server`` (the repository's harness finds
  one) or ``PUREGRAM_REDIS_URL``.

SQLite and Redis rows appear when their adapter packages are installed. Nothing is
asserted: the table is for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from puregram.rate_limit import rate_limit
from puregram.storage import LruMemoryStorage, MemoryStorage

WINDOW_S = 3_600
LIMIT = 1_000_000_000  # every hit allowed: measure counting, not the over-budget branch

Run = Callable[[int], Awaitable[None]]


@dataclass
class Row:
    store: str
    what: str
    floor: str
    run: Run
    floor_run: Run
    n: int
    best: float = float("inf")
    best_floor: float = float("inf")


class Ctx:
    __slots__ = ("sender_id",)

    def __init__(self, sender_id: int) -> None:
        self.sender_id = sender_id


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def memory_rows(n: int) -> list[Row]:
    data: dict[str, Any] = {}

    async def floor(n: int) -> None:
        get = data.get
        window_ms = WINDOW_S * 1000
        for i in range(n):
            key = f"default:{i & 1023}"
            now = now_ms()
            entry = get(key)
            if entry is None or entry["resetAt"] <= now:
                data[key] = {"hits": 1, "resetAt": now + window_ms}
            else:
                data[key] = {"hits": entry["hits"] + 1, "resetAt": entry["resetAt"]}

    plain = rate_limit(storage=MemoryStorage())
    lru = rate_limit()  # the default: LruMemoryStorage(max=10_000)
    contexts = [Ctx(i) for i in range(1024)]

    async def hit_memory(n: int) -> None:
        hit = plain.hit
        for i in range(n):
            await hit(f"default:{i & 1023}", LIMIT, WINDOW_S)

    async def check_lru(n: int) -> None:
        check = lru.check
        for i in range(n):
            await check(contexts[i & 1023], limit=LIMIT, window=WINDOW_S)

    assert isinstance(lru.storage, LruMemoryStorage)
    return [
        Row("memory", "hit(key) / MemoryStorage", "dict get+set", hit_memory, floor, n),
        Row("memory", "check(ctx) / default LRU", "dict get+set", check_lru, floor, n),
    ]


def sqlite_rows(n: int, folder: Path) -> list[Row]:
    try:
        from puregram.storage_sqlite import SqliteStorage, connect
    except ImportError:
        print("SQLite: puregram-storage-sqlite not installed, skipped", file=sys.stderr)
        return []
    # Both sides on the settings a bot uses: WAL, synchronous=NORMAL, autocommit.
    raw = connect(folder / "floor.db")
    raw.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)")
    # The counter as one statement: a live window gets +1, an ended or missing one restarts.
    upsert = (
        "INSERT INTO kv (key, value, expires_at) "
        "VALUES (?1, json_object('hits', 1, 'resetAt', ?2), ?2) "
        "ON CONFLICT (key) DO UPDATE SET "
        "value = CASE WHEN json_extract(value, '$.resetAt') > ?3 "
        "THEN json_set(value, '$.hits', json_extract(value, '$.hits') + 1) "
        "ELSE excluded.value END, "
        "expires_at = CASE WHEN json_extract(value, '$.resetAt') > ?3 "
        "THEN expires_at ELSE excluded.expires_at END "
        "RETURNING json_extract(value, '$.hits'), json_extract(value, '$.resetAt')"
    )

    async def floor(n: int) -> None:
        execute = raw.execute
        for i in range(n):
            now = now_ms()
            execute(upsert, (f"default:{i & 1023}", now + WINDOW_S * 1000, now)).fetchall()

    limiter = rate_limit(storage=SqliteStorage(db=connect(folder / "limiter.db")))

    async def hit(n: int) -> None:
        h = limiter.hit
        for i in range(n):
            await h(f"default:{i & 1023}", LIMIT, WINDOW_S)

    return [Row("SQLite (WAL file)", "hit(key) / SqliteStorage", "bare UPSERT", hit, floor, n)]


@contextlib.contextmanager
def redis_url(given: str | None) -> Iterator[str | None]:
    external = given or os.environ.get("PUREGRAM_REDIS_URL")
    if external:
        yield external
        return
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
        from tools.redis_harness import HARNESS
    except ImportError:
        yield None
        return
    try:
        server = HARNESS.server()
    except RuntimeError as exc:
        print(f"Redis: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield server.url
    finally:
        HARNESS.stop_all()


def redis_rows(n: int, url: str | None) -> list[Row]:
    if url is None:
        return []
    try:
        import redis.asyncio as aioredis

        from puregram.storage_redis import RedisStorage
        from puregram.storage_redis._counter import COUNT_HIT_LUA
    except ImportError:
        print("Redis: puregram-storage-redis not installed, skipped", file=sys.stderr)
        return []
    client = aioredis.Redis.from_url(url)
    script = client.register_script(COUNT_HIT_LUA)
    limiter = rate_limit(storage=RedisStorage(client=client, prefix="bench:"))

    async def floor_script(n: int) -> None:
        for i in range(n):
            await script(keys=[f"floor:default:{i & 1023}"], args=[WINDOW_S * 1000])

    async def floor_incr(n: int) -> None:
        incr = client.incr
        for i in range(n):
            await incr(f"floor-incr:{i & 1023}")

    async def hit(n: int) -> None:
        h = limiter.hit
        for i in range(n):
            await h(f"default:{i & 1023}", LIMIT, WINDOW_S)

    return [
        Row("Redis", "hit(key) / RedisStorage", "bare script", hit, floor_script, n),
        Row("Redis", "hit(key) / RedisStorage", "bare INCR", hit, floor_incr, n),
    ]


async def measure(run: Run, n: int) -> float:
    start = time.perf_counter()
    await run(n)
    return (time.perf_counter() - start) / n


async def bench(rows: list[Row], rounds: int) -> None:
    for row in rows:  # warm up: caches, statement caches, script cache, key sets
        await row.floor_run(min(row.n, 2_000))
        await row.run(min(row.n, 2_000))
    for _ in range(rounds):
        for row in rows:
            row.best_floor = min(row.best_floor, await measure(row.floor_run, row.n))
            row.best = min(row.best, await measure(row.run, row.n))


def table(rows: list[Row]) -> str:
    lines = [
        "| store | limiter call | µs/hit | hits/s | raw floor | floor µs/op | ratio |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.store} | `{r.what.split(' / ')[0]}` over {r.what.split(' / ')[1]} "
            f"| {r.best * 1e6:.2f} | {1 / r.best:,.0f} | {r.floor} "
            f"| {r.best_floor * 1e6:.2f} | {r.best / r.best_floor:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer hits per round")
    parser.add_argument(
        "--redis-url",
        help="a server to use (default: PUREGRAM_REDIS_URL, else the harness starts one)",
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    with tempfile.TemporaryDirectory() as folder, redis_url(args.redis_url) as url:
        rows = (
            memory_rows(50_000 // scale)
            + sqlite_rows(5_000 // scale, Path(folder))
            + redis_rows(5_000 // scale, url)
        )
        asyncio.run(bench(rows, args.rounds))
    print(
        f"Python {sys.version.split()[0]}, {sqlite3.sqlite_version=}, "
        f"best of {args.rounds} interleaved rounds, ratio = limiter / floor\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
