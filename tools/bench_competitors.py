"""puregram stores beside the stores a Python bot author would pick instead.

Prints markdown tables: µs per ``get`` and per ``set`` of one small session-like dict, and
each store's ratio to ours, for three groups that run on the same machine, in the same
process, in the same run:

- memory: ``puregram.storage.MemoryStorage``, aiogram's FSM ``MemoryStorage``,
  py-key-value-aio's ``MemoryStore``, aiocache's ``SimpleMemoryCache``;
- redis (one real server for all): ``puregram.storage_redis.RedisStorage``, aiogram's
  ``RedisStorage``, py-key-value-aio's ``RedisStore``, aiocache's ``RedisCache``;
- sqlite (files in a temp dir): ``puregram.storage_sqlite.SqliteStorage``, py-key-value-aio's
  ``DiskStore`` (diskcache, SQLite underneath), and an aiosqlite-style store that runs each
  statement on one worker thread.

Each group also has a raw floor: the least work the backend needs for the same operation
(a ``dict``; redis-py ``GET``/``SET`` of JSON text; one ``sqlite3`` statement and commit).

Method: every store gets the same value and the same keys (``--keys`` distinct users);
a cell is a run of sets, then of gets, in a row (``SIZES``: 20,000 in memory, 500 on
Redis, 1,000 on SQLite); the stores take turns round by round (the order rotates), 7
rounds in memory, 25 on Redis, 15 on SQLite, and each cell keeps its best round. A store that
fails to import, start or read back what it wrote is listed as "not available: <reason>".

Run: ``hatch run bench:python tools/bench_competitors.py [--quick] [--redis-url URL]``.
Without ``--redis-url`` (or ``PUREGRAM_REDIS_URL``) a server is started through
``tools/redis_harness.py`` and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import importlib.metadata
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["GROUPS", "main", "run"]

GROUPS = ("memory", "redis", "sqlite")
TIMES = "\N{MULTIPLICATION SIGN}"

# What a bot keeps per user: a few scalars, a short list and a nested flag set.
VALUE: dict[str, Any] = {
    "counter": 42,
    "name": "Ada Lovelace",
    "step": "checkout",
    "cart": [101, 202, 303],
    "flags": {"premium": False, "lang": "en"},
}

Getter = Callable[[Any], Awaitable[Any]]
Setter = Callable[[Any, dict[str, Any]], Awaitable[Any]]
Closer = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


def _closer(store: Any) -> Closer:
    """The store's own ``close`` when it has one, else nothing to do."""
    close = getattr(store, "close", None)
    return close if callable(close) else _nothing


@dataclass
class Opened:
    """A store ready to time: its get/set callables and how to turn a key into its own."""

    get: Getter
    set: Setter
    close: Closer = _nothing
    key: Callable[[str], Any] = str


@dataclass
class Candidate:
    """One row of a table."""

    label: str
    note: str
    open: Callable[[], Awaitable[Opened]]
    ours: bool = False
    floor: bool = False


@dataclass
class Row:
    label: str
    note: str
    ours: bool
    floor: bool
    get_us: float = float("inf")
    set_us: float = float("inf")
    error: str | None = None
    opened: Opened | None = field(default=None, repr=False)
    keys: list[Any] = field(default_factory=list, repr=False)


def _module(name: str) -> Any:
    """Import a module that may be absent or untyped; the caller treats it as ``Any``."""
    return importlib.import_module(name)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:160] if first else type(exc).__name__


# --- memory -----------------------------------------------------------------------------


async def _open_ours_memory() -> Opened:
    from puregram.storage import MemoryStorage

    store: MemoryStorage[dict[str, Any]] = MemoryStorage()
    return Opened(get=store.get, set=store.set)


async def _open_dict_floor() -> Opened:
    data: dict[str, dict[str, Any]] = {}

    async def get(key: str) -> dict[str, Any] | None:
        return data.get(key)

    async def set_(key: str, value: dict[str, Any]) -> None:
        data[key] = value

    return Opened(get=get, set=set_)


def _aiogram_key(key: str) -> Any:
    storage_key = _module("aiogram.fsm.storage.base").StorageKey
    user_id = int(key.rsplit(":", 1)[1]) + 1
    return storage_key(bot_id=1, chat_id=user_id, user_id=user_id)


async def _open_aiogram_memory() -> Opened:
    store = _module("aiogram.fsm.storage.memory").MemoryStorage()
    return Opened(get=store.get_data, set=store.set_data, close=store.close, key=_aiogram_key)


async def _open_kv_memory() -> Opened:
    store = _module("key_value.aio.stores.memory").MemoryStore(default_collection="bench")
    await store.setup()
    return Opened(get=store.get, set=store.put, close=_closer(store))


async def _open_aiocache_memory() -> Opened:
    cache = _module("aiocache").SimpleMemoryCache()
    return Opened(get=cache.get, set=cache.set, close=cache.close)


async def _open_aiocache_memory_no_timeout() -> Opened:
    cache = _module("aiocache").SimpleMemoryCache(timeout=None)
    return Opened(get=cache.get, set=cache.set, close=cache.close)


def _memory_candidates() -> list[Candidate]:
    return [
        Candidate(
            "puregram MemoryStorage",
            "dict, value kept by reference",
            _open_ours_memory,
            ours=True,
        ),
        Candidate(
            f"aiogram MemoryStorage ({_version('aiogram')})",
            "FSM data on a StorageKey; copies the dict on get and on set",
            _open_aiogram_memory,
        ),
        Candidate(
            f"py-key-value-aio MemoryStore ({_version('py-key-value-aio')})",
            "TLRU cache of entries with timestamps; copies the dict on get",
            _open_kv_memory,
        ),
        Candidate(
            f"aiocache SimpleMemoryCache ({_version('aiocache')})",
            "dict by reference; the default timeout (5 s) runs each call through asyncio.wait_for",
            _open_aiocache_memory,
        ),
        Candidate(
            "aiocache SimpleMemoryCache, timeout=None",
            "the same without asyncio.wait_for, to show what the default costs",
            _open_aiocache_memory_no_timeout,
        ),
        Candidate(
            "floor: dict in a coroutine",
            "one dict lookup or store, nothing else",
            _open_dict_floor,
            floor=True,
        ),
    ]


# --- redis ------------------------------------------------------------------------------


def _redis_client(url: str, **options: Any) -> Any:
    return _module("redis.asyncio").Redis.from_url(url, **options)


async def _close_client(client: Any) -> None:
    await client.aclose()


async def _open_ours_redis(url: str) -> Opened:
    client = _redis_client(url)
    store = _module("puregram.storage_redis").RedisStorage(client=client, prefix="bench:pg:")

    async def close() -> None:
        await _close_client(client)

    return Opened(get=store.get, set=store.set, close=close)


async def _open_redis_floor(url: str) -> Opened:
    client = _redis_client(url)

    async def get(key: str) -> Any:
        raw = await client.get(key)
        return None if raw is None else json.loads(raw)

    async def set_(key: str, value: dict[str, Any]) -> None:
        await client.set(key, json.dumps(value, separators=(",", ":")))

    async def close() -> None:
        await _close_client(client)

    return Opened(get=get, set=set_, close=close, key=lambda key: f"bench:floor:{key}")


async def _open_aiogram_redis(url: str) -> Opened:
    store = _module("aiogram.fsm.storage.redis").RedisStorage(redis=_redis_client(url))
    return Opened(get=store.get_data, set=store.set_data, close=store.close, key=_aiogram_key)


async def _open_kv_redis(url: str) -> Opened:
    # Its own client from the URL: the store reads str replies (decode_responses=True).
    store = _module("key_value.aio.stores.redis").RedisStore(url=url, default_collection="bench")
    await store.setup()
    return Opened(get=store.get, set=store.put, close=_closer(store))


async def _open_aiocache_redis(url: str) -> Opened:
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    cache = _module("aiocache").RedisCache(
        endpoint=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        db=db,
        namespace="bench:aiocache:",
        serializer=_module("aiocache.serializers").JsonSerializer(),
    )
    return Opened(get=cache.get, set=cache.set, close=cache.close)


def _redis_candidates(url: str) -> list[Candidate]:
    return [
        Candidate(
            "puregram RedisStorage",
            "GET / SET of JSON text",
            partial(_open_ours_redis, url),
            ours=True,
        ),
        Candidate(
            f"aiogram RedisStorage ({_version('aiogram')})",
            "GET / SET of JSON text on a StorageKey",
            partial(_open_aiogram_redis, url),
        ),
        Candidate(
            f"py-key-value-aio RedisStore ({_version('py-key-value-aio')})",
            "GET / SET of a JSON envelope with timestamps",
            partial(_open_kv_redis, url),
        ),
        Candidate(
            f"aiocache RedisCache ({_version('aiocache')}, JSON serializer)",
            "GET / SET of JSON text; the default timeout (5 s) runs each call through "
            "asyncio.wait_for",
            partial(_open_aiocache_redis, url),
        ),
        Candidate(
            "floor: redis-py GET / SET + json",
            "one command and json.loads / json.dumps",
            partial(_open_redis_floor, url),
            floor=True,
        ),
    ]


# --- sqlite -----------------------------------------------------------------------------

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)"
)
_UPSERT = (
    "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, NULL) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = NULL"
)
_SELECT = "SELECT value FROM kv WHERE key = ?"


def _connect_wal(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """The settings of ``SqliteStorage.open``: WAL, synchronous=NORMAL, autocommit."""
    db = sqlite3.connect(path, check_same_thread=check_same_thread, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute(_SCHEMA)
    return db


def _sqlite_get(db: sqlite3.Connection, key: str) -> Any:
    row = db.execute(_SELECT, (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def _sqlite_set(db: sqlite3.Connection, key: str, value: dict[str, Any]) -> None:
    # Autocommit (isolation_level=None): the statement is its own committed transaction.
    db.execute(_UPSERT, (key, json.dumps(value, separators=(",", ":"))))


async def _open_ours_sqlite(folder: Path) -> Opened:
    # ``open`` is the documented way to a file: WAL, synchronous=NORMAL, autocommit.
    storage = _module("puregram.storage_sqlite").SqliteStorage
    store = storage.open(folder / "puregram.sqlite3")
    return Opened(get=store.get, set=store.set, close=store.close)


async def _open_sqlite_floor(folder: Path) -> Opened:
    db = _connect_wal(folder / "floor.sqlite3")

    async def get(key: str) -> Any:
        return _sqlite_get(db, key)

    async def set_(key: str, value: dict[str, Any]) -> None:
        _sqlite_set(db, key, value)

    async def close() -> None:
        db.close()

    return Opened(get=get, set=set_, close=close)


async def _open_thread_sqlite(folder: Path) -> Opened:
    # aiosqlite's model: one connection owned by one worker thread, each call handed over.
    db = _connect_wal(folder / "thread.sqlite3", check_same_thread=False)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-sqlite")

    async def get(key: str) -> Any:
        return await asyncio.get_running_loop().run_in_executor(worker, _sqlite_get, db, key)

    async def set_(key: str, value: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(worker, _sqlite_set, db, key, value)

    async def close() -> None:
        worker.submit(db.close).result()
        worker.shutdown()

    return Opened(get=get, set=set_, close=close)


async def _open_kv_disk(folder: Path) -> Opened:
    store = _module("key_value.aio.stores.disk").DiskStore(
        directory=folder / "diskcache", default_collection="bench"
    )
    await store.setup()
    return Opened(get=store.get, set=store.put, close=_closer(store))


def _sqlite_candidates(folder: Path) -> list[Candidate]:
    return [
        Candidate(
            "puregram SqliteStorage",
            "one statement per call on the event loop thread, committed",
            partial(_open_ours_sqlite, folder),
            ours=True,
        ),
        Candidate(
            f"py-key-value-aio DiskStore ({_version('py-key-value-aio')}, "
            f"diskcache {_version('diskcache')})",
            "diskcache (SQLite, WAL, synchronous=NORMAL); blocking calls on the event loop",
            partial(_open_kv_disk, folder),
        ),
        Candidate(
            "to_thread SQLite (aiosqlite-style)",
            "same statements as the floor, each on one worker thread",
            partial(_open_thread_sqlite, folder),
        ),
        Candidate(
            "floor: sqlite3 statement, autocommit",
            "WAL, synchronous=NORMAL; one statement and json",
            partial(_open_sqlite_floor, folder),
            floor=True,
        ),
    ]


# --- timing -----------------------------------------------------------------------------


async def _time_sets(opened: Opened, keys: Sequence[Any]) -> float:
    set_, value = opened.set, VALUE
    start = time.perf_counter_ns()
    for key in keys:
        await set_(key, value)
    return (time.perf_counter_ns() - start) / len(keys) / 1_000


async def _time_gets(opened: Opened, keys: Sequence[Any]) -> float:
    get = opened.get
    start = time.perf_counter_ns()
    for key in keys:
        await get(key)
    return (time.perf_counter_ns() - start) / len(keys) / 1_000


async def _prepare(candidate: Candidate, key_names: Sequence[str]) -> Row:
    row = Row(candidate.label, candidate.note, candidate.ours, candidate.floor)
    try:
        opened = await candidate.open()
        row.opened = opened
        row.keys = [opened.key(name) for name in key_names]
        # A store that does not give back what it was given is not timed at all.
        await opened.set(row.keys[0], VALUE)
        back = await opened.get(row.keys[0])
        if back != VALUE:
            raise RuntimeError(f"get returned {back!r} after set")
    except Exception as exc:  # noqa: BLE001 - any failure becomes "not available: <why>"
        row.error = _reason(exc)
        await _close(row)
    return row


async def _close(row: Row) -> None:
    opened, row.opened = row.opened, None
    if opened is not None:
        with contextlib.suppress(Exception):
            await opened.close()


def _rotations(items: list[Row], rounds: int) -> Iterator[list[Row]]:
    for index in range(rounds):
        shift = index % len(items) if items else 0
        yield items[shift:] + items[:shift]


async def _run_group(candidates: list[Candidate], *, ops: int, keys: int, rounds: int) -> list[Row]:
    names = [f"user:{index % keys}" for index in range(ops)]
    rows = [await _prepare(candidate, names) for candidate in candidates]
    live = [row for row in rows if row.opened is not None]
    # The libraries' modules make a big heap: a full collection scans it in ~0.2 s. Freeze
    # what exists now, so the collector (left on, as in a bot) sees only what the stores
    # allocate while timed.
    gc.collect()
    gc.freeze()
    try:
        for order in _rotations(live, rounds):
            for row in order:
                assert row.opened is not None
                row.set_us = min(row.set_us, await _time_sets(row.opened, row.keys))
                row.get_us = min(row.get_us, await _time_gets(row.opened, row.keys))
    except Exception as exc:  # noqa: BLE001 - report the group, do not crash the run
        for row in live:
            row.error = row.error or f"failed while timed: {_reason(exc)}"
    finally:
        gc.unfreeze()
        for row in live:
            await _close(row)
    return rows


# --- report -----------------------------------------------------------------------------


def _ratio(value: float, ours: float | None) -> str:
    if ours is None or ours <= 0 or value == float("inf"):
        return "-"
    return f"{value / ours:.2f}{TIMES}"


def _us(value: float) -> str:
    if value == float("inf"):
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def render_group(title: str, rows: list[Row], *, ops: int, keys: int, rounds: int) -> str:
    """One markdown section: the table, then what each row does per call."""
    ours = next((row for row in rows if row.ours and row.error is None), None)
    ours_get = ours.get_us if ours is not None else None
    ours_set = ours.set_us if ours is not None else None
    lines = [
        f"### {title}",
        "",
        f"{ops:,} operations per cell over {min(ops, keys):,} keys, best of {rounds} rounds. "
        f"{TIMES} ours: µs of that store divided by µs of ours in the same run "
        "(above 1 means slower).",
        "",
        f"| store | µs / get | {TIMES} ours | µs / set | {TIMES} ours |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        label = f"**{row.label}**" if row.ours else row.label
        if row.error is not None:
            lines.append(f"| {label} | not available: {row.error} | | | |")
            continue
        lines.append(
            f"| {label} | {_us(row.get_us)} | {_ratio(row.get_us, ours_get)} "
            f"| {_us(row.set_us)} | {_ratio(row.set_us, ours_set)} |"
        )
    lines.append("")
    lines.extend(f"- {row.label}: {row.note}." for row in rows)
    lines.append("")
    return "\n".join(lines)


@contextlib.contextmanager
def _redis_url(explicit: str | None) -> Iterator[str]:
    """The given URL, else ``PUREGRAM_REDIS_URL``, else a server from the harness."""
    url = explicit or os.environ.get("PUREGRAM_REDIS_URL")
    if url:
        yield url
        return
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    harness = importlib.import_module("tools.redis_harness").HARNESS
    server = harness.new_server()
    try:
        yield str(server.url)
    finally:
        harness.release(server)


def _redis_version(url: str) -> str:
    client = _module("redis").Redis.from_url(url)
    try:
        return str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()


# (operations per cell, rounds): many short rounds where the server shares the two
# cores with the client, so that the best round of each store escapes most of the noise.
SIZES = {"memory": (20_000, 7), "redis": (500, 25), "sqlite": (1_000, 15)}
QUICK_SIZES = {"memory": (5_000, 3), "redis": (300, 5), "sqlite": (300, 5)}


async def run(
    groups: Sequence[str],
    *,
    sizes: dict[str, tuple[int, int]],
    keys: int,
    redis_url: str | None,
) -> str:
    """Run the chosen groups and return the markdown report."""
    sections = [
        "Value (the same for every store): "
        f"`{json.dumps(VALUE, separators=(',', ':'))}`. Keys: `user:<n>`; "
        "aiogram takes a `StorageKey(bot_id=1, chat_id=n, user_id=n)` built before timing.",
        "",
    ]
    if "memory" in groups:
        ops, rounds = sizes["memory"]
        _progress("memory")
        rows = await _run_group(_memory_candidates(), ops=ops, keys=keys, rounds=rounds)
        sections.append(render_group("In memory", rows, ops=ops, keys=keys, rounds=rounds))
    if "redis" in groups:
        ops, rounds = sizes["redis"]
        _progress("redis")
        try:
            with _redis_url(redis_url) as url:
                version = _redis_version(url)
                rows = await _run_group(_redis_candidates(url), ops=ops, keys=keys, rounds=rounds)
        except Exception as exc:  # noqa: BLE001 - no server: say so, keep the other groups
            sections.append(f"### Redis\n\nnot available: {_reason(exc)}\n")
        else:
            title = f"Redis {version} on loopback, one server for all"
            sections.append(render_group(title, rows, ops=ops, keys=keys, rounds=rounds))
            sections.append(REDIS_NOISE)
    if "sqlite" in groups:
        ops, rounds = sizes["sqlite"]
        _progress("sqlite")
        with tempfile.TemporaryDirectory(prefix="puregram-bench-") as folder:
            rows = await _run_group(
                _sqlite_candidates(Path(folder)), ops=ops, keys=keys, rounds=rounds
            )
        title = f"SQLite {sqlite3.sqlite_version}, a file in a temp dir"
        sections.append(render_group(title, rows, ops=ops, keys=keys, rounds=rounds))
    return "\n".join(sections)


REDIS_NOISE = (
    "The Redis server shares the cores with the client here, so these are the noisiest "
    "rows: between stores that send the same single command, read a gap of a few tens of "
    "percent as noise. The commands each store sends are the cost that does not drift.\n"
)


def _progress(group: str) -> None:
    print(f"bench_competitors: {group}...", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds for every group (default 7 to 25)"
    )
    parser.add_argument("--keys", type=int, default=1_000, help="distinct keys (default 1000)")
    parser.add_argument(
        "--only",
        action="append",
        choices=GROUPS,
        help="run only this group (repeatable); default: all",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="use this server instead of starting one (also PUREGRAM_REDIS_URL)",
    )
    args = parser.parse_args(argv)
    sizes = {
        group: (ops, args.rounds or rounds)
        for group, (ops, rounds) in (QUICK_SIZES if args.quick else SIZES).items()
    }
    report = asyncio.run(
        run(args.only or GROUPS, sizes=sizes, keys=args.keys, redis_url=args.redis_url)
    )
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
