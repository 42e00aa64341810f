"""``PostgresStorage``: the storage contract on one PostgreSQL table, over asyncpg.

Every operation is one statement on a connection borrowed from the pool for that
statement (autocommit: committed when its coroutine returns). The table is checked, or
created, by the first operation (``open`` does it at once).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Generic, TypeVar

import asyncpg

from puregram.storage import (
    CorruptValueError,
    ForeignValueError,
    LocalLeases,
    check_count,
    check_key,
    check_ms,
    check_text,
    decode_value,
    describe_key,
    encode_value,
    lease_backoff,
)

from ._errors import SchemaError
from ._leases import PostgresLease
from ._schema import COLUMNS_SQL, Statements, check_columns, check_table, prefix_bounds

__all__ = ["PostgresStorage"]

V = TypeVar("V")

_PAGE = 500  # rows per iteration page: bounded memory, few statements
SWEEP_BATCH = 1_000  # rows per DELETE of a sweep: short row locks, bounded WAL per statement
logger = logging.getLogger("puregram.storage_postgres")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_options(
    ttl_ms: object, sweep_interval_ms: object, clock: object
) -> tuple[int | None, int | None]:
    """The options as whole milliseconds (``check_ms``: ``TypeError`` for a wrong type,
    ``ValueError`` outside 1 to ``MAX_MS``), checked before anything runs."""
    owner = "PostgresStorage"
    ttl = None if ttl_ms is None else check_ms("ttl_ms", ttl_ms, owner=owner)
    interval = (
        None
        if sweep_interval_ms is None
        else check_ms("sweep_interval_ms", sweep_interval_ms, owner=owner)
    )
    if clock is not None and not callable(clock):
        raise TypeError(
            f"PostgresStorage clock must be a callable returning unix ms, got {clock!r}"
        )
    return ttl, interval


def _key(key: object) -> str:
    """``check_key``, and a NUL, which PostgreSQL text cannot hold, is a ``ValueError``."""
    text = check_key(key)
    if "\x00" in text:
        raise ValueError(
            f"storage key {describe_key(text)} holds a NUL character, which PostgreSQL "
            "text cannot store"
        )
    return text


def _rowcount(status: str) -> int:
    """The row count of a command tag such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])


class _Opening:
    """What ``PostgresStorage.open`` returns: ``await`` it for the store, or use it as
    ``async with PostgresStorage.open(dsn) as store:`` (closed on exit)."""

    __slots__ = ("_make", "_store")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._store: PostgresStorage[Any] | None = None

    def __await__(self) -> Generator[Any, None, PostgresStorage[Any]]:
        return self._make().__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> PostgresStorage[Any]:
        self._store = await self._make()
        return self._store

    async def __aexit__(self, *exc_info: object) -> None:
        if self._store is not None:
            await self._store.close()


class PostgresStorage(Generic[V]):
    """A ``TtlStorage``, ``IterableStorage``, ``GetTouchStorage``, ``CounterStorage`` and
    ``LockStorage`` over one table, through an asyncpg pool.

    Construction checks every option and runs no SQL; the first operation checks the
    table's schema (``SchemaError`` for another schema) or creates it, its expiry index
    and the lease table ``<table>:leases``, under an advisory lock, so that stores
    starting together do not collide. The store does not own ``pool``: ``close()``
    leaves it open (``open`` makes a store that owns and closes its pool). asyncio only.
    """

    __slots__ = (
        "_clock",
        "_closed",
        "_lease_queue",
        "_owns_pool",
        "_pool",
        "_prepare_lock",
        "_ready",
        "_sql",
        "_sweep_interval",
        "_sweep_task",
        "_table",
        "_ttl_ms",
    )

    def __init__(
        self,
        *,
        pool: Any,
        table: str = "puregram_kv",
        ttl_ms: int | None = None,
        sweep_interval_ms: int | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        sql = Statements.for_table(check_table(table))
        ttl_ms, sweep_interval_ms = _check_options(ttl_ms, sweep_interval_ms, clock)
        for method in ("fetchrow", "fetchval", "fetch", "execute", "acquire"):
            if not callable(getattr(pool, method, None)):
                raise TypeError(
                    f"PostgresStorage pool must be an asyncpg pool (asyncpg.create_pool), "
                    f"got {type(pool).__name__}"
                )
        self._pool = pool
        self._table = table
        self._sql = sql
        self._ttl_ms = ttl_ms
        self._clock: Callable[[], int] = _now_ms if clock is None else clock
        self._sweep_interval = sweep_interval_ms
        self._sweep_task: asyncio.Task[None] | None = None
        self._closed = False
        self._owns_pool = False
        self._ready = False
        self._prepare_lock: asyncio.Lock | None = None
        self._lease_queue = LocalLeases()

    @classmethod
    def open(
        cls,
        dsn: str,
        *,
        table: str = "puregram_kv",
        ttl_ms: int | None = None,
        sweep_interval_ms: int | None = None,
        clock: Callable[[], int] | None = None,
        min_size: int = 1,
        max_size: int = 10,
    ) -> _Opening:
        """Make an asyncpg pool for ``dsn`` (``min_size`` to ``max_size`` connections),
        check or create the table, and return a store that owns the pool: ``close()``
        closes it. ``store = await PostgresStorage.open(dsn)``, or ``async with
        PostgresStorage.open(dsn) as store:``. Bad options raise at the call, before
        any connection is made."""
        check_table(table)
        _check_options(ttl_ms, sweep_interval_ms, clock)
        owner = "PostgresStorage.open"
        dsn = check_text("dsn", dsn, owner=owner)
        min_size = check_count("min_size", min_size, owner=owner, minimum=0)
        max_size = check_count("max_size", max_size, owner=owner)
        if min_size > max_size:
            raise ValueError(
                f"PostgresStorage.open min_size ({min_size}) must not exceed max_size ({max_size})"
            )

        async def make() -> PostgresStorage[Any]:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
            try:
                store: PostgresStorage[Any] = cls(
                    pool=pool,
                    table=table,
                    ttl_ms=ttl_ms,
                    sweep_interval_ms=sweep_interval_ms,
                    clock=clock,
                )
                await store._prepare()
            except BaseException:
                await pool.close()
                raise
            store._owns_pool = True
            return store

        return _Opening(make)

    async def _prepare(self) -> None:
        """Check the table or create it (one transaction under an advisory lock on the
        table's name): a read of the catalogue, then the CREATEs of what is missing."""
        if self._prepare_lock is None:
            self._prepare_lock = asyncio.Lock()
        async with self._prepare_lock:
            if self._ready:
                return
            sql = self._sql
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(sql.lock_schema, f"puregram_kv schema {self._table}")
                rows = await conn.fetch(COLUMNS_SQL, f'"{self._table}"')
                if not rows:
                    await conn.execute(sql.create_table)
                else:
                    reason = check_columns(rows)
                    if reason is not None:
                        raise SchemaError(self._table, reason)
                await conn.execute(sql.create_index)
                await conn.execute(sql.create_leases)
            self._ready = True
            if self._sweep_interval is not None and not self._closed:
                self._sweep_task = asyncio.get_running_loop().create_task(
                    self._sweep_forever(self._sweep_interval / 1000),
                    name="puregram.storage_postgres sweeper",
                )

    # -- the contract -------------------------------------------------------------------

    async def get(self, key: str) -> V | None:
        """The value at ``key``, or ``None``. One SELECT; an expired row reads as missing
        and costs a second statement, a DELETE of that row only while still expired.
        Raises ``CorruptValueError`` naming the key when the stored text is not JSON."""
        key = _key(key)
        if not self._ready:
            await self._prepare()
        row = await self._pool.fetchrow(self._sql.get, key)
        if row is None:
            return None
        expires_at = row[1]
        if expires_at is not None:
            now = self._clock()
            if expires_at < now:  # live while expires_at >= now
                await self._pool.execute(self._sql.delete_expired_key, key, now)
                return None
        value: V = decode_value(key, row[0])
        return value

    async def set(self, key: str, value: V) -> None:
        """Store ``value`` (as JSON) at ``key``, expiring ``ttl_ms`` from now when set.
        One INSERT ... ON CONFLICT DO UPDATE. A value JSON cannot hold raises
        ``TypeError``/``ValueError`` naming the key before any SQL runs."""
        key = _key(key)
        text = encode_value(key, value)
        if not self._ready:
            await self._prepare()
        ttl = self._ttl_ms
        expires_at = None if ttl is None else self._clock() + ttl
        await self._pool.execute(self._sql.set, key, text, expires_at)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is fine. One DELETE."""
        key = _key(key)
        if not self._ready:
            await self._prepare()
        await self._pool.execute(self._sql.delete, key)

    async def has(self, key: str) -> bool:
        """Whether ``key`` holds a live value (``None`` included). One SELECT."""
        key = _key(key)
        if not self._ready:
            await self._prepare()
        return await self._pool.fetchval(self._sql.has, key, self._clock()) is not None

    async def touch(self, key: str) -> None:
        """Restart ``key``'s ttl (``ttl_ms`` from now); a missing or expired key stays
        missing. One UPDATE; without ``ttl_ms`` nothing expires and no SQL runs."""
        key = _key(key)
        ttl = self._ttl_ms
        if ttl is None:
            return
        if not self._ready:
            await self._prepare()
        now = self._clock()
        await self._pool.execute(self._sql.touch, key, now, now + ttl)

    async def get_and_touch(self, key: str) -> V | None:
        """``get`` and ``touch`` at once: one UPDATE ... RETURNING with ``ttl_ms`` (an
        expired row is left for the sweep), else exactly ``get``."""
        key = _key(key)
        ttl = self._ttl_ms
        if ttl is None:
            return await self.get(key)
        if not self._ready:
            await self._prepare()
        now = self._clock()
        raw = await self._pool.fetchval(self._sql.get_and_touch, key, now, now + ttl)
        if raw is None:
            return None
        value: V = decode_value(key, raw)
        return value

    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        """Add one hit to the fixed window at ``key``; return ``(hits, reset_at_ms)``.

        One INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the row lock makes
        concurrent hits from any number of connections and processes count exactly.
        The row holds ``{"hits":n,"resetAt":unix_ms}`` (the SQLite store's text) and
        expires at ``resetAt``; a missing row, an expired one or one whose ``resetAt``
        has passed starts a new window. Raises ``ForeignValueError`` naming the key when
        the live row there is not a counter, and ``CorruptValueError`` when its text is
        not JSON; in both cases the row is left as it was. ``window_ms`` goes through
        ``check_ms``."""
        key = _key(key)
        window_ms = check_ms("window_ms", window_ms, owner="PostgresStorage.count_hit")
        if not self._ready:
            await self._prepare()
        now = self._clock()
        try:
            row = await self._pool.fetchrow(self._sql.count_hit, key, now + window_ms, now)
        except asyncpg.InvalidTextRepresentationError as exc:
            raise CorruptValueError(key, f"the stored text is not JSON: {exc}") from exc
        if row is None:
            raise ForeignValueError(
                key, 'is live and not a rate-limit counter {"hits": int, "resetAt": unix_ms}'
            )
        return int(row[0]), int(row[1])

    # -- leases -----------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, key: str, *, lease_ms: int = 30_000) -> AsyncIterator[PostgresLease[V]]:
        """``async with storage.lock(key) as lease:`` waits until ``key`` is free across
        every store on the database, takes it for at most ``lease_ms`` (a row of
        ``<table>:leases``) and reads its value.

        Tasks of one store wait in-process for their turn (no SQL while they wait); the
        task whose turn it is retries a lease held elsewhere with backoff (1 ms doubling
        to 50 ms, with jitter). A holder that dies or hangs frees the key after
        ``lease_ms``. Leaving the block releases the lease without writing; see
        ``PostgresLease`` for ``save``, ``remove`` and ``release``. ``lease_ms`` goes
        through ``check_ms``. Raises ``CorruptValueError`` (after releasing) when the
        stored value is not JSON."""
        key = _key(key)
        lease_ms = check_ms("lease_ms", lease_ms, owner="PostgresStorage.lock")
        if not self._ready:
            await self._prepare()
        queue = self._lease_queue
        turn = await queue.acquire(key, lease_ms)
        try:
            lease: PostgresLease[V] = await self._take(key, lease_ms, turn)
        except BaseException:
            queue.release(key, turn)
            raise
        try:
            yield lease
        finally:
            await lease.release()

    async def _take(self, key: str, lease_ms: int, turn: int) -> PostgresLease[V]:
        token = secrets.token_hex(16)
        delays = lease_backoff()
        pool, sql, queue = self._pool, self._sql, self._lease_queue
        while True:
            now = self._clock()
            if await pool.fetchval(sql.take_lease, key, token, now + lease_ms, now) is not None:
                break
            queue.renew(key, turn, lease_ms)  # alive and waiting: local waiters stay behind
            await asyncio.sleep(next(delays))
        queue.renew(key, turn, lease_ms)
        try:
            row = await pool.fetchrow(sql.read_leased, key)
            found, value = False, None
            if row is not None and (row[1] is None or row[1] >= self._clock()):
                found, value = True, decode_value(key, row[0])
        except BaseException:
            await pool.execute(sql.drop_lease, key, token)
            raise
        return PostgresLease(self, key, token, turn, found, value)

    async def _run_fenced(self, sql: str, key: str, token: str, *args: Any) -> bool:
        """Run a fenced statement (it ends ``key``'s lease if ``token`` still holds it and
        only then writes); return whether it held."""
        held = await self._pool.fetchval(sql, key, token, self._clock(), *args)
        return bool(held)

    # -- iteration ----------------------------------------------------------------------

    async def keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        """Yield every live key in key order (code point order, ``COLLATE "C"``),
        ``_PAGE`` rows per SELECT (keyset pagination on the primary key, never OFFSET):
        memory stays bounded whatever the table holds. With ``prefix``, only keys that
        start with it, read as one primary-key range. A key written or deleted during
        the walk may or may not be seen; no key is yielded twice."""
        sql = self._sql
        async for rows in self._pages(
            prefix,
            (sql.keys_first, sql.keys_next, sql.keys_first_until, sql.keys_next_until),
        ):
            for row in rows:
                yield row[0]

    async def values(self, *, prefix: str = "") -> AsyncIterator[V]:
        """Yield the value of every live key (under ``prefix``), paged like ``keys``."""
        async for _, value in self.entries(prefix=prefix):
            yield value

    async def entries(self, *, prefix: str = "") -> AsyncIterator[tuple[str, V]]:
        """Yield ``(key, value)`` for every live key (under ``prefix``), paged like
        ``keys``. Raises ``CorruptValueError`` naming the key at a row that is not JSON."""
        sql = self._sql
        async for rows in self._pages(
            prefix,
            (
                sql.entries_first,
                sql.entries_next,
                sql.entries_first_until,
                sql.entries_next_until,
            ),
        ):
            for key, raw in rows:
                value: V = decode_value(key, raw)
                yield key, value

    async def _pages(
        self, prefix: str, statements: tuple[str, str, str, str]
    ) -> AsyncIterator[Any]:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}: {prefix!r}")
        prefix = _key(prefix)
        if not self._ready:
            await self._prepare()
        low, high = prefix_bounds(prefix)
        first, following = (statements[2], statements[3]) if high else statements[:2]
        extra = () if high is None else (high,)
        sql, after = first, low
        while True:
            rows = await self._pool.fetch(sql, after, self._clock(), _PAGE, *extra)
            yield rows
            if len(rows) < _PAGE:
                return
            sql, after = following, rows[-1][0]

    # -- expiry and lifetime ------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete every expired row and return how many: DELETEs of at most 1,000 rows
        each (the partial index on ``expires_at`` finds them), until one deletes fewer;
        then one DELETE of expired leases (not counted)."""
        if not self._ready:
            await self._prepare()
        now = self._clock()
        total = 0
        while True:
            deleted = _rowcount(await self._pool.execute(self._sql.sweep, now, SWEEP_BATCH))
            total += deleted
            if deleted < SWEEP_BATCH:
                break
        await self._pool.execute(self._sql.sweep_leases, now)
        return total

    async def _sweep_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep()
            except Exception:
                # A background task has no caller to raise to: log, retry next interval.
                logger.exception("periodic sweep failed; retrying in %s s", interval_s)

    async def close(self) -> None:
        """Stop the periodic sweeps (waiting until they have stopped) and, for a store
        made by ``open``, close its pool. Safe to call more than once."""
        self._closed = True
        task, self._sweep_task = self._sweep_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if self._owns_pool:
            self._owns_pool = False
            await self._pool.close()

    aclose = close

    async def __aenter__(self) -> PostgresStorage[V]:
        if not self._ready:
            await self._prepare()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"PostgresStorage(table={self._table!r}, ttl_ms={self._ttl_ms!r})"
