"""Shared pieces of the integration tests: updates, stores over real backends, and the
documented record formats.

Imported by the test modules and by ``_bot.py`` (a child process). The conftest puts
this folder on ``sys.path``; a child gets it as the folder of its script.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.lowlevel

from puregram.storage import KVStorage, LruMemoryStorage, MemoryStorage, enhance_storage

Middleware = Callable[[Any, Callable[[], Awaitable[object]]], Awaitable[None]]

NOW = 1_700_000_000_000
"""Where the fake clocks start (unix ms)."""

ENHANCED_TTL_MS = 3_600_000
"""The ``ttl_ms`` of the ``enhanced-*`` stores: every write carries ``__exp``."""

LOCAL_KINDS = ["memory", "lru", "sqlite", "enhanced-sqlite", "enhanced-lru"]
REDIS_KINDS = ["redis", "redis-cluster", "enhanced-redis"]
POSTGRES_KINDS = ["postgres", "enhanced-postgres"]
"""Stores on a real PostgreSQL server (asyncio only: asyncpg); they skip when there is
no server (see tools/postgres_harness.py)."""


class Update:
    """A stand-in for a puregram context: the middleware needs a sender_id and room for
    a session."""

    def __init__(self, sender_id: int | None) -> None:
        self.sender_id = sender_id
        self.session: Any = None


async def run_update(middleware: Middleware, sender_id: int, handler: Callable[[Any], Any]) -> Any:
    """One update for ``sender_id`` through ``middleware``; returns what ``handler``
    returned (``None`` when the chain did not reach it)."""
    context = Update(sender_id)
    result: list[Any] = []

    async def next_() -> None:
        result.append(handler(context))

    await middleware(context, next_)
    return result[0] if result else None


async def run_counting_update(middleware: Middleware, sender_id: int) -> int:
    """One update whose handler bumps ``session.counter`` and, like a real handler that
    sends a reply, yields to other tasks between reading and saving the session.

    Returns the counter the handler set."""
    context = Update(sender_id)
    seen: list[int] = []

    async def next_() -> None:
        counter = int(context.session.get("counter", 0)) + 1
        await anyio.lowlevel.checkpoint()  # the reply: other updates run meanwhile
        context.session.counter = counter
        seen.append(counter)

    await middleware(context, next_)
    return seen[0]


class FakeClock:
    """Unix milliseconds that move only when told: ``clock.now += 5_000``."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def unique_prefix(tag: str = "it") -> str:
    """A Redis prefix no other test uses: tests share one server and never see each other."""
    return f"{tag}:{uuid.uuid4().hex[:12]}:"


# -- the documented formats ---------------------------------------------------------------


def check_session_record(record: Any) -> dict[str, Any]:
    """Assert ``record`` is a session as stored (a plain JSON object; ``"__ttl"``, when
    present, is ``{key: {"t": int, "at": int}}`` for keys the record holds); return it."""
    assert type(record) is dict, f"a session record is a JSON object, got {record!r}"
    assert all(type(key) is str for key in record)
    meta = record.get("__ttl")
    if meta is not None:
        assert type(meta) is dict, f"__ttl must be an object: {meta!r}"
        assert meta, "a record keeps no empty __ttl"
        for key, entry in meta.items():
            assert key in record, f"__ttl names {key!r}, which is gone"
            assert key != "__ttl"
            assert type(entry) is dict, entry
            assert set(entry) == {"t", "at"}, entry
            assert type(entry["t"]) is int, entry
            assert entry["t"] > 0, entry
            assert type(entry["at"]) is int, entry
    return record


def check_envelope(envelope: Any) -> Any:
    """Assert ``envelope`` is an ``enhance_storage`` envelope ``{"__v": int, "data": ...,
    "__exp": int (optional)}``; return its data."""
    assert type(envelope) is dict, f"an envelope is a JSON object, got {envelope!r}"
    assert {"__v", "data"} <= set(envelope) <= {"__v", "data", "__exp"}, envelope
    assert type(envelope["__v"]) is int, envelope
    if "__exp" in envelope:
        assert type(envelope["__exp"]) is int, envelope
    return envelope["data"]


def check_rate_entry(entry: Any) -> dict[str, int]:
    """Assert ``entry`` is a rate-limit entry ``{"hits": int, "resetAt": int}``."""
    assert type(entry) is dict, entry
    assert set(entry) == {"hits", "resetAt"}, entry
    assert type(entry["hits"]) is int, entry
    assert entry["hits"] >= 1, entry
    assert type(entry["resetAt"]) is int, entry
    return entry


# -- stores over real backends, and a raw view of what they hold --------------------------


@dataclass
class StoreCase:
    """A store of one kind, and access to its backend that bypasses the store.

    ``raw_get(key)`` is the value as the backend holds it, JSON-parsed (``None`` when
    absent). ``mark(key)`` changes how the stored value is held without changing its
    meaning (the JSON text re-indented; for memory stores, the object itself is the
    mark), and ``marked(key)`` tells whether that exact value is still there: any
    rewrite by the store loses the mark.
    """

    kind: str
    storage: KVStorage[Any]
    raw_get: Callable[[str], Awaitable[Any]]
    raw_keys: Callable[[], Awaitable[set[str]]]
    mark: Callable[[str], Awaitable[None]]
    marked: Callable[[str], Awaitable[bool]]

    @property
    def enhanced(self) -> bool:
        return self.kind.startswith("enhanced-")

    async def raw_session(self, key: str) -> dict[str, Any] | None:
        """The session record at ``key`` as stored, checked against the documented
        format (and unwrapped from its envelope for the ``enhanced-*`` kinds)."""
        raw = await self.raw_get(key)
        if raw is None:
            return None
        if self.enhanced:
            raw = check_envelope(raw)
        return check_session_record(raw)


def _memory_case(kind: str, storage: Any, base: Any) -> StoreCase:
    """``base`` keeps values by reference: the stored object is the raw value."""
    marks: dict[str, Any] = {}

    async def raw_get(key: str) -> Any:
        value = await base.get(key)
        return None if value is None else json.loads(json.dumps(value))

    async def raw_keys() -> set[str]:
        return {key async for key in base.keys()}

    async def mark(key: str) -> None:
        marks[key] = await base.get(key)

    async def marked(key: str) -> bool:
        return await base.get(key) is marks[key]

    return StoreCase(kind, storage, raw_get, raw_keys, mark, marked)


def _sqlite_case(kind: str, storage: Any, path: Path) -> StoreCase:
    """A second connection reads and marks the rows: what another process would see."""

    def query(sql: str, *params: object) -> list[Any]:
        db = sqlite3.connect(path)
        try:
            rows = db.execute(sql, params).fetchall()
            db.commit()
        finally:
            db.close()
        return rows

    marks: dict[str, str] = {}

    async def raw_get(key: str) -> Any:
        rows = query("SELECT value FROM puregram_kv WHERE key = ?", key)
        return json.loads(rows[0][0]) if rows else None

    async def raw_keys() -> set[str]:
        return {row[0] for row in query("SELECT key FROM puregram_kv")}

    async def mark(key: str) -> None:
        marks[key] = json.dumps(await raw_get(key), indent=1)
        query("UPDATE puregram_kv SET value = ? WHERE key = ?", marks[key], key)

    async def marked(key: str) -> bool:
        rows = query("SELECT value FROM puregram_kv WHERE key = ?", key)
        return bool(rows) and rows[0][0] == marks[key]

    return StoreCase(kind, storage, raw_get, raw_keys, mark, marked)


def _redis_case(kind: str, storage: Any, client: Any, prefix: str) -> StoreCase:
    """The same client, with raw commands on ``prefix + key``."""
    marks: dict[str, bytes] = {}

    async def raw_get(key: str) -> Any:
        text = await client.get(prefix + key)
        return None if text is None else json.loads(text)

    async def raw_keys() -> set[str]:
        names = set()
        if hasattr(client, "get_primaries"):  # a cluster: scan every primary
            async for name in client.scan_iter(match=f"{prefix}*", target_nodes="primaries"):
                names.add(name)
        else:
            async for name in client.scan_iter(match=f"{prefix}*"):
                names.add(name)
        return {name.decode()[len(prefix) :] for name in names}

    async def mark(key: str) -> None:
        marks[key] = json.dumps(await raw_get(key), indent=1).encode()
        await client.set(prefix + key, marks[key])

    async def marked(key: str) -> bool:
        return bool(await client.get(prefix + key) == marks[key])

    return StoreCase(kind, storage, raw_get, raw_keys, mark, marked)


def _postgres_case(kind: str, storage: Any, pool: Any, table: str) -> StoreCase:
    """The store's own pool, with raw statements on its table."""
    marks: dict[str, str] = {}
    t = f'"{table}"'

    async def raw_get(key: str) -> Any:
        text = await pool.fetchval(f"SELECT value FROM {t} WHERE key = $1", key)
        return None if text is None else json.loads(text)

    async def raw_keys() -> set[str]:
        return {row[0] for row in await pool.fetch(f"SELECT key FROM {t}")}

    async def mark(key: str) -> None:
        marks[key] = json.dumps(await raw_get(key), indent=1)
        await pool.execute(f"UPDATE {t} SET value = $1 WHERE key = $2", marks[key], key)

    async def marked(key: str) -> bool:
        text = await pool.fetchval(f"SELECT value FROM {t} WHERE key = $1", key)
        return bool(text == marks[key])

    return StoreCase(kind, storage, raw_get, raw_keys, mark, marked)


@asynccontextmanager
async def open_store(
    kind: str,
    *,
    folder: Path,
    clock: Callable[[], int],
    redis_url: Callable[[], str],
    cluster_url: Callable[[], str],
    postgres_url: Callable[[], str] | None = None,
) -> AsyncIterator[StoreCase]:
    """A fresh store of ``kind`` (one of ``LOCAL_KINDS``, ``REDIS_KINDS`` or
    ``POSTGRES_KINDS``): SQLite on a new file in ``folder`` opened with
    ``SqliteStorage.open``, Redis under a prefix of its own, PostgreSQL on a new table
    (dropped on exit) through ``PostgresStorage.open``. ``enhanced-*`` wraps the store
    in ``enhance_storage(ttl_ms=...)`` on ``clock``. Closed (file, client, pool) on exit."""
    base_kind = kind.removeprefix("enhanced-")

    def wrap(base: KVStorage[Any]) -> KVStorage[Any]:
        if kind == base_kind:
            return base
        return enhance_storage(base, ttl_ms=ENHANCED_TTL_MS, clock=clock)

    if base_kind in ("memory", "lru"):
        base: Any = MemoryStorage() if base_kind == "memory" else LruMemoryStorage(max=1_000)
        yield _memory_case(kind, wrap(base), base)
    elif base_kind == "sqlite":
        from puregram.storage_sqlite import SqliteStorage

        path = folder / f"{kind}-{uuid.uuid4().hex[:8]}.db"
        async with SqliteStorage.open(path) as sqlite_store:
            yield _sqlite_case(kind, wrap(sqlite_store), path)
    elif base_kind in ("redis", "redis-cluster"):
        from redis.asyncio import Redis, RedisCluster

        from puregram.storage_redis import RedisStorage

        client: Any = (
            RedisCluster.from_url(cluster_url())
            if base_kind == "redis-cluster"
            else Redis.from_url(redis_url())
        )
        prefix = unique_prefix()
        try:
            store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
            yield _redis_case(kind, wrap(store), client, prefix)
        finally:
            await client.aclose()
    elif base_kind == "postgres":
        from puregram.storage_postgres import PostgresStorage

        assert postgres_url is not None, "open_store needs postgres_url for a postgres kind"
        table = f"it_{uuid.uuid4().hex[:16]}"
        async with PostgresStorage.open(postgres_url(), table=table) as pg_store:
            try:
                yield _postgres_case(kind, wrap(pg_store), pg_store._pool, table)
            finally:
                await pg_store._pool.execute(f'DROP TABLE IF EXISTS "{table}", "{table}:leases"')
    else:
        raise ValueError(f"unknown store kind {kind!r}")


OpenStore = Callable[..., AbstractAsyncContextManager[StoreCase]]
"""The ``store_opener`` fixture: ``async with store_opener(kind, clock=...) as case``."""
