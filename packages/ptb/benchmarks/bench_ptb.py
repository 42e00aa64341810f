"""puregram-ptb: bot start-up with many stored users, and listing one namespace.

Run from the repository root (``--quick``, ``--rounds N``, ``--redis-url URL``)::

    python packages/ptb/benchmarks/bench_ptb.py

1. Start-up: ``get_user_data()`` (what ``Application.initialize`` calls) with 100,000
   stored users (10,000 with ``--quick``), ``StoragePersistence`` over a SQLite file and
   over Redis against ``PicklePersistence`` of the same data; interleaved, best round of
   each; then the memory the load allocated (``tracemalloc`` peak, in a separate run so
   that tracing does not slow the timings).
2. Listing one namespace: ``namespaced(store, "ptb:user_data:").keys()`` with 10,000 keys
   in it, in a store that holds 100,000 and 1,000,000 other keys (10,000 and 100,000 with
   ``--quick``): time per listed key. O(namespace) means the figure does not grow with the
   other keys; a store without native prefix listing walks them all (``native`` says
   which). Redis needs ``redis-server`` (the repository's harness finds one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from telegram.ext import PicklePersistence

from puregram.ptb import StoragePersistence
from puregram.storage import namespaced
from puregram.storage_sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parents[3]
REDIS_PORT = 44100  # this package's benchmark port, away from the others'
PREFIX = "bench-ptb:"  # every Redis key this benchmark writes, deleted when it is done


def user(index: int) -> dict[str, Any]:
    return {"count": index, "name": f"user {index}", "lang": "en", "tags": ["a", "b"]}


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@contextlib.contextmanager
def redis_url(given: str | None) -> Iterator[str | None]:
    external = given or os.environ.get("PUREGRAM_REDIS_URL")
    if external:
        yield external
        return
    sys.path.insert(0, str(ROOT))
    try:
        from tools.redis_harness import HARNESS
    except ImportError:
        yield None
        return
    try:
        server = HARNESS.new_server(port=REDIS_PORT)
    except RuntimeError as exc:
        print(f"Redis: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield server.url
    finally:
        HARNESS.stop_all()


def fill_sqlite(path: Path, pairs: Iterator[tuple[str, Any]]) -> None:
    """Bulk rows in one transaction: the table ``SqliteStorage`` reads, filled fast."""
    SqliteStorage.open(path)  # creates the table (and its schema version)
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT OR REPLACE INTO puregram_kv (key, value, expires_at) VALUES (?, ?, NULL)",
            ((key, _text(value)) for key, value in pairs),
        )
    db.close()


async def fill_redis(client: Any, prefix: str, pairs: Iterator[tuple[str, Any]]) -> None:
    batch: dict[str, str] = {}
    for key, value in pairs:
        batch[prefix + key] = _text(value)
        if len(batch) == 10_000:
            await client.mset(batch)
            batch = {}
    if batch:
        await client.mset(batch)


async def clear_redis(client: Any, prefix: str) -> None:
    """Delete this benchmark's keys (never ``FLUSHDB``: the server may be someone's)."""
    batch: list[bytes] = []
    async for name in client.scan_iter(match=prefix + "*", count=10_000):
        batch.append(name)
        if len(batch) == 10_000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)


async def best(rounds: int, runs: dict[str, Callable[[], Awaitable[object]]]) -> dict[str, float]:
    """Best seconds of each run, interleaved round by round."""
    times = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            await run()
            times[name] = min(times[name], time.perf_counter() - started)
    return times


async def peak_bytes(run: Callable[[], Awaitable[object]]) -> int:
    tracemalloc.start()
    try:
        result = await run()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak


async def startup(users: int, rounds: int, folder: Path, url: str | None) -> None:
    data = {index: user(index) for index in range(users)}
    pickle_path = folder / "bot.pickle"
    pickled = PicklePersistence(pickle_path, on_flush=True)
    for index, value in data.items():
        await pickled.update_user_data(index, value)
    await pickled.flush()

    sqlite_path = folder / "startup.db"
    fill_sqlite(sqlite_path, ((f"ptb:user_data:{i}", v) for i, v in data.items()))

    runs: dict[str, Callable[[], Awaitable[object]]] = {}

    async def from_pickle() -> object:
        return await PicklePersistence(pickle_path).get_user_data()

    async def from_sqlite() -> object:
        async with SqliteStorage.open(sqlite_path) as store:
            loaded = await StoragePersistence(store).get_user_data()
        assert len(loaded) == users
        return loaded

    runs["PicklePersistence (pickle file)"] = from_pickle
    runs["StoragePersistence over SqliteStorage"] = from_sqlite
    client = None
    if url is not None:
        from redis.asyncio import Redis

        from puregram.storage_redis import RedisStorage

        client = Redis.from_url(url)
        await clear_redis(client, PREFIX)
        await fill_redis(client, PREFIX, ((f"ptb:user_data:{i}", v) for i, v in data.items()))

        async def from_redis() -> object:
            loaded = await StoragePersistence(
                RedisStorage(client=client, prefix=PREFIX)
            ).get_user_data()
            assert len(loaded) == users
            return loaded

        runs["StoragePersistence over RedisStorage"] = from_redis

    times = await best(rounds, runs)
    memory = {name: await peak_bytes(run) for name, run in runs.items()}
    if client is not None:
        await clear_redis(client, PREFIX)
        await client.aclose()
    floor = times["PicklePersistence (pickle file)"]
    print(f"## Start-up: get_user_data() with {users:,} stored users\n")
    print("| persistence | load (s) | vs pickle | per user (µs) | memory peak (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds in times.items():
        print(
            f"| {name} | {seconds:.3f} | {seconds / floor:.1f} | {seconds / users * 1e6:.1f} "
            f"| {memory[name] / 2**20:.1f} |"
        )
    print()


async def listing(
    others_sizes: list[int], space: int, rounds: int, folder: Path, url: str | None
) -> None:
    rows: list[tuple[str, int, bool, float]] = []
    client = None
    if url is not None:
        from redis.asyncio import Redis

        client = Redis.from_url(url)
    for others in others_sizes:
        mine = ((f"ptb:user_data:{i}", {"i": i}) for i in range(space))
        rest = ((f"other:{i:07d}", {"i": i}) for i in range(others))
        path = folder / f"listing-{others}.db"
        fill_sqlite(path, (pair for pairs in (mine, rest) for pair in pairs))
        async with SqliteStorage.open(path) as store:
            view: Any = namespaced(store, "ptb:user_data:")

            async def list_sqlite(view: Any = view) -> object:
                keys = [key async for key in view.keys()]
                assert len(keys) == space
                return keys

            seconds = (await best(rounds, {"sqlite": list_sqlite}))["sqlite"]
            rows.append(("SqliteStorage", others, view.native_prefix, seconds))
        path.unlink()
        if client is not None:
            from puregram.storage_redis import RedisStorage

            await clear_redis(client, PREFIX)
            mine = ((f"ptb:user_data:{i}", {"i": i}) for i in range(space))
            rest = ((f"other:{i:07d}", {"i": i}) for i in range(others))
            await fill_redis(client, PREFIX, (p for pairs in (mine, rest) for p in pairs))
            redis_view: Any = namespaced(
                RedisStorage(client=client, prefix=PREFIX), "ptb:user_data:"
            )

            async def list_redis(view: Any = redis_view) -> object:
                keys = [key async for key in view.keys()]
                assert len(keys) == space
                return keys

            seconds = (await best(rounds, {"redis": list_redis}))["redis"]
            rows.append(("RedisStorage", others, redis_view.native_prefix, seconds))
            await clear_redis(client, PREFIX)
    if client is not None:
        await client.aclose()
    print(f"## Listing one namespace of {space:,} keys\n")
    print("| store | other keys | native prefix | list (s) | per listed key (µs) |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, others, native, seconds in rows:
        print(
            f"| {name} | {others:,} | {'yes' if native else 'no (full walk)'} "
            f"| {seconds:.3f} | {seconds / space * 1e6:.1f} |"
        )
    print()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller stores")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", help="a Redis server to use (only bench-ptb:* keys)")
    parser.add_argument("--only", choices=["startup", "listing"])
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    print("# puregram-ptb\n")
    with tempfile.TemporaryDirectory() as name, redis_url(args.redis_url) as url:
        folder = Path(name)
        if url is None:
            print("Redis: no server, its rows are skipped\n")
        if args.only in (None, "startup"):
            await startup(100_000 // scale, args.rounds, folder, url)
        if args.only in (None, "listing"):
            await listing([100_000 // scale, 1_000_000 // scale], 10_000, args.rounds, folder, url)


if __name__ == "__main__":
    asyncio.run(main())
