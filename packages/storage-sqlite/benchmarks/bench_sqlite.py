"""SqliteStorage get/set against raw sqlite3 + json, and against the same raw statements
run through ``anyio.to_thread.run_sync`` (what an aiosqlite-style store pays per call).

One file, one run, the settings of ``puregram.storage_sqlite.connect`` (WAL,
synchronous=NORMAL, busy_timeout, autocommit) for every contestant. Rounds are
interleaved and the best round of each counts. Prints µs per operation and ratios;
asserts nothing.

    python packages/storage-sqlite/benchmarks/bench_sqlite.py [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from puregram.storage_sqlite import SqliteStorage, connect

VALUE = {"counter": 42, "name": "alice", "step": "menu", "items": [1, 2, 3], "flag": True}
KEYS = [f"user:{index}" for index in range(1_000)]
GET_SQL = "SELECT value FROM puregram_kv WHERE key = ?"
SET_SQL = (
    "INSERT INTO puregram_kv (key, value, expires_at) VALUES (?, ?, NULL) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)


def raw_connection(path: Path) -> sqlite3.Connection:
    """connect()'s settings, usable from a worker thread."""
    db = sqlite3.connect(path, isolation_level=None, timeout=5, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


Step = Callable[[str], Awaitable[Any]]


async def timed(ops: int, step: Step) -> float:
    """Seconds per operation for ``ops`` awaited calls."""
    keys = KEYS
    count = len(keys)
    start = time.perf_counter()
    for index in range(ops):
        await step(keys[index % count])
    return (time.perf_counter() - start) / ops


async def timed_raw(ops: int, step: Callable[[str], Any]) -> float:
    """Seconds per operation for ``ops`` plain calls, inside the same event loop."""
    keys = KEYS
    count = len(keys)
    start = time.perf_counter()
    for index in range(ops):
        step(keys[index % count])
    return (time.perf_counter() - start) / ops


async def main(rounds: int, scale: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        db = connect(path)
        store: SqliteStorage[Any] = SqliteStorage(db=db)
        threaded = raw_connection(path)
        for key in KEYS:
            await store.set(key, VALUE)

        def raw_get(key: str) -> Any:
            row = db.execute(GET_SQL, (key,)).fetchone()
            return None if row is None else json.loads(row[0])

        def raw_set(key: str) -> None:
            db.execute(SET_SQL, (key, json.dumps(VALUE)))

        def thread_get(key: str) -> Any:
            row = threaded.execute(GET_SQL, (key,)).fetchone()
            return None if row is None else json.loads(row[0])

        def thread_set(key: str) -> None:
            threaded.execute(SET_SQL, (key, json.dumps(VALUE)))

        async def store_set(key: str) -> None:
            await store.set(key, VALUE)

        async def via_thread_get(key: str) -> Any:
            return await anyio.to_thread.run_sync(thread_get, key)

        async def via_thread_set(key: str) -> None:
            await anyio.to_thread.run_sync(thread_set, key)

        fast, slow = int(20_000 * scale), int(3_000 * scale)
        contestants: dict[tuple[str, str], Callable[[], Awaitable[float]]] = {}
        steps: list[tuple[str, Step, Callable[[str], Any], Step]] = [
            ("get", store.get, raw_get, via_thread_get),
            ("set", store_set, raw_set, via_thread_set),
        ]
        for op, store_step, raw_step, thread_step in steps:
            contestants[(op, "store")] = partial(timed, fast, store_step)
            contestants[(op, "raw")] = partial(timed_raw, fast, raw_step)
            contestants[(op, "thread")] = partial(timed, slow, thread_step)

        best: dict[tuple[str, str], float] = {}
        for _ in range(rounds):
            for name, run in contestants.items():
                seconds = await run()
                best[name] = min(best.get(name, seconds), seconds)
        db.close()
        threaded.close()

    print(f"SQLite {sqlite3.sqlite_version}, best of {rounds} interleaved rounds, µs/op")
    print()
    print(
        "| op | raw sqlite3 + json | SqliteStorage | ratio to raw | raw via to_thread | "
        "to_thread / SqliteStorage |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for op in ("get", "set"):
        raw_us, store_us, thread_us = (best[(op, who)] * 1e6 for who in ("raw", "store", "thread"))
        print(
            f"| {op} | {raw_us:.2f} | {store_us:.2f} | {store_us / raw_us:.2f}x | "
            f"{thread_us:.2f} | {thread_us / store_us:.1f}x |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer operations per round")
    args = parser.parse_args()
    anyio.run(main, args.rounds, 0.1 if args.quick else 1.0)
