"""``SqliteStorage``: the storage contract on one SQLite table.

Every operation runs on the calling thread (the event loop's) as one SQL statement,
followed by ``commit()`` when the driver opened a transaction for it, so a write is
committed before its coroutine returns and no transaction is left open between calls.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from time import perf_counter
from types import TracebackType
from typing import Any, Generic, TypeVar

from puregram.storage import (
    CorruptValueError,
    ForeignValueError,
    LocalLeases,
    check_key,
    check_ms,
    check_text,
    decode_value,
    describe_key,
    encode_value,
)

from ._checkpoint import POKE_EVERY, STORE_AUTOCHECKPOINT, Checkpointer
from ._connect import Connection, connect
from ._errors import DatabaseMovedError, SchemaError
from ._leases import SqliteLease, take
from ._loop import due, pause
from ._schema import (
    COLUMNS_SQL,
    MIN_SQLITE_VERSION,
    OBJECTS_SQL,
    PK_COLLATION_SQL,
    PK_INDEX_SQL,
    Statements,
    check_columns,
    check_table,
    covering_index_name,
    index_name,
    lease_table_name,
    legacy_index_name,
)
from ._sweeper import Sweeper

__all__ = ["SqliteStorage"]

V = TypeVar("V")

_PAGE = 500  # rows per iteration page: bounded memory, few statements
# A sweep deletes in batches, each one statement (and one commit), sized to take about
# _SWEEP_TARGET_S, with a chance for the loop to run between two of them.
_SWEEP_FIRST = 256
_SWEEP_MIN = 16
_SWEEP_MAX = 16_384
_SWEEP_TARGET_S = 0.002
_SQLITE_READONLY = 8
# How often a write looks whether the database file is still the one the store opened:
# an os.stat costs about a third of a write, a clock read a hundredth.
_FILE_CHECK_S = 1.0
_monotonic = time.monotonic


def _is_read_only(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "attempt to write a readonly database"."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == _SQLITE_READONLY)
    return "readonly database" in str(exc) or "read-only database" in str(exc)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _key_range(prefix: object, method: str) -> tuple[str, str | None]:
    """``(low, high)``: the keys that start with ``prefix`` are exactly those with
    ``low <= key < high`` (no upper bound when ``high`` is ``None``), in the order of
    SQLite's ``BINARY`` collation, which compares UTF-8 text byte by byte, that is code
    point by code point. ``high`` is the least string above every string that starts
    with ``prefix``: drop its trailing U+10FFFF characters (none is above them) and
    raise the last one left by one code point, stepping over the surrogates (no key
    holds one)."""
    prefix = check_text("prefix", prefix, owner=f"SqliteStorage.{method}")
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return prefix, None
    last = ord(stem[-1])
    return prefix, stem[:-1] + chr(0xE000 if last == 0xD7FF else last + 1)


def _check_options(
    ttl_ms: object, sweep_interval_ms: object, clock: object
) -> tuple[int | None, int | None]:
    """The options as whole milliseconds (``check_ms``: ``TypeError`` for a wrong type,
    fractions included, ``ValueError`` outside 1 to ``MAX_MS``), checked before any SQL."""
    owner = "SqliteStorage"
    ttl = None if ttl_ms is None else check_ms("ttl_ms", ttl_ms, owner=owner)
    interval = (
        None
        if sweep_interval_ms is None
        else check_ms("sweep_interval_ms", sweep_interval_ms, owner=owner)
    )
    if clock is not None and not callable(clock):
        raise TypeError(f"clock must be a callable returning unix ms, got {clock!r}")
    return ttl, interval


class SqliteStorage(Generic[V]):
    """A ``TtlStorage`` and ``IterableStorage`` (with ``get_and_touch`` and ``count_hit``)
    over one table of a SQLite connection from ``sqlite3`` or ``pysqlite3``.

    Construction validates every option before it runs any SQL, then reads the SQLite
    version and which of its objects exist, and creates the table and its index if
    missing or checks the existing table's schema. Raises ``TypeError``/``ValueError``
    naming a bad option, ``SchemaError`` for a table of another schema, ``RuntimeError``
    when SQLite is older than 3.35, and the driver's ``OperationalError`` (saying so)
    when the table must be created on a read-only database.

    The store does not own ``db``: ``close()`` leaves it open (``SqliteStorage.open``
    makes a store that does own and close its connection).
    """

    __slots__ = (
        "_check_at",
        "_checkpointer",
        "_clock",
        "_closed",
        "_covered",
        "_db",
        "_file",
        "_lease_queue",
        "_lease_table_known",
        "_owns_db",
        "_pending_start",
        "_sql",
        "_sweeper",
        "_table",
        "_ttl_ms",
        "_until_poke",
    )

    def __init__(
        self,
        *,
        db: Connection,
        table: str = "puregram_kv",
        ttl_ms: int | None = None,
        sweep_interval_ms: int | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        sql = Statements.for_table(check_table(table))
        ttl_ms, sweep_interval_ms = _check_options(ttl_ms, sweep_interval_ms, clock)
        for method in ("execute", "commit", "rollback"):
            if not callable(getattr(db, method, None)):
                raise TypeError(
                    f"db must be a sqlite3 or pysqlite3 connection, got {type(db).__name__}"
                )
        self._db = db
        self._table = table
        self._sql = sql
        self._ttl_ms = ttl_ms
        self._clock: Callable[[], int] = _now_ms if clock is None else clock
        self._sweeper = (
            None if sweep_interval_ms is None else Sweeper(self._sweep, sweep_interval_ms)
        )
        self._pending_start = self._sweeper is not None
        self._closed = False
        self._owns_db = False
        self._lease_table_known = False
        self._covered = False
        self._checkpointer: Checkpointer | None = None
        self._until_poke = POKE_EVERY
        self._lease_queue = LocalLeases()
        self._file: tuple[str, int, int] | None = None
        self._check_at = math.inf  # no file to watch (yet)

        version = self._run_one("SELECT sqlite_version()", (), None)[0]
        numbers = tuple(int(part) for part in str(version).split(".")[:3])
        if numbers < MIN_SQLITE_VERSION:
            raise RuntimeError(
                f"SqliteStorage needs SQLite 3.35 or newer (for RETURNING); this connection "
                f"runs SQLite {version}. Install puregram-storage-sqlite[pysqlite3] and pass "
                f"a pysqlite3.dbapi2 connection, or upgrade Python's SQLite."
            )
        self._prepare()
        self._watch_file()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        table: str = "puregram_kv",
        ttl_ms: int | None = None,
        sweep_interval_ms: int | None = None,
        clock: Callable[[], int] | None = None,
        busy_timeout_ms: int = 5_000,
        driver: Any = None,
        read_only: bool = False,
    ) -> SqliteStorage[Any]:
        """Open ``path`` with ``connect`` (WAL, ``synchronous=NORMAL``, ``busy_timeout``,
        autocommit) and return a store that owns the connection: ``close()`` closes it.
        ``read_only=True``: see ``connect``; reads work (also on read-only media), and
        every write raises the driver's ``OperationalError`` saying so.

        A writable file in WAL mode also gets a thread that runs its WAL checkpoints
        (see ``_checkpoint``), so that no statement of the store holds the loop while
        SQLite copies the WAL back and syncs: the store's connection checkpoints by
        itself only past 10,000 WAL pages. ``close()`` stops the thread."""
        # A bad option raises before the file is created.
        check_table(table)
        _check_options(ttl_ms, sweep_interval_ms, clock)
        db = connect(path, busy_timeout_ms=busy_timeout_ms, driver=driver, read_only=read_only)
        try:
            store: SqliteStorage[Any] = cls(
                db=db, table=table, ttl_ms=ttl_ms, sweep_interval_ms=sweep_interval_ms, clock=clock
            )
        except BaseException:
            db.close()
            raise
        store._owns_db = True
        if not read_only and store._file is not None:
            try:
                mode = db.execute("PRAGMA journal_mode").fetchall()[0][0]
                if str(mode).lower() == "wal":
                    store._checkpointer = Checkpointer(
                        store._file[0], sqlite3 if driver is None else driver
                    )
                    db.execute(f"PRAGMA wal_autocheckpoint = {STORE_AUTOCHECKPOINT}")
            except BaseException:
                db.close()
                raise
        return store

    def _prepare(self) -> None:
        """Check the table or create it, and give it the expiry index and the covering
        index (see ``Statements``). One read of ``sqlite_master``, then either the
        CREATEs (a new table) or three reads of its schema (an existing one); nothing is
        written to a table that is already right. A table from an older version or from
        the TypeScript package gets the covering index here (one pass over the table);
        on a read-only database the store reads without it."""
        table, sql = self._table, self._sql
        names = (
            table,
            index_name(table),
            legacy_index_name(table),
            lease_table_name(table),
            covering_index_name(table),
        )
        rows, _ = self._run(OBJECTS_SQL, names, None)
        found = {name: (kind, owner, text) for kind, name, owner, text in rows}
        mine = found.get(table.lower())
        if mine is None:
            self._run_change(sql.create_table, (), None)
        elif mine[0] != "table":
            raise SchemaError(table, f"it is a {mine[0]}, not a table")
        else:
            self._check_schema()
        if index_name(table).lower() not in found:
            try:
                self._run_change(sql.create_index, (), None)
            except Exception as exc:
                # A read-only database: reads need no index, and the first writable
                # store on the file makes it.
                if mine is None or not _is_read_only(exc):
                    raise
            else:
                # A file from a version before 0.2: its index had a name a valid table
                # may need. Only an index with exactly the old statement is dropped.
                legacy = found.get(legacy_index_name(table).lower())
                if legacy == ("index", table, sql.legacy_index_sql):
                    self._run_change(sql.drop_legacy_index, (), None)
        covering = found.get(covering_index_name(table).lower())
        if covering is None:
            try:
                self._run_change(sql.create_covering_index, (), None)
            except Exception as exc:
                if mine is None or not _is_read_only(exc):
                    raise
            else:
                self._covered = True
        else:
            # Named with a ":", so only this package makes it; still, INDEXED BY names
            # it only when it is the index this package makes.
            self._covered = covering[0] == "index" and covering[2] == sql.covering_index_sql
        self._lease_table_known = lease_table_name(table).lower() in found

    def _watch_file(self) -> None:
        """Note which file the connection's main database is (``PRAGMA database_list``
        and ``os.stat``), so that writes can tell when it was deleted or replaced."""
        rows, _ = self._run("PRAGMA database_list", (), None)
        path = next((row[2] for row in rows if row[1] == "main"), "")
        if not path:  # in memory, or a temporary database: nothing to watch
            return
        try:
            found = os.stat(path)
        except OSError:
            return
        self._file = (path, found.st_dev, found.st_ino)
        self._check_at = _monotonic() + _FILE_CHECK_S

    def _check_file(self, key: str | None) -> None:
        """Raise ``DatabaseMovedError`` when the path no longer leads to the file the
        store opened. Run by a write at most once per ``_FILE_CHECK_S``; once it has
        raised, every later write checks (and raises) again."""
        assert self._file is not None
        path, device, inode = self._file
        try:
            found = os.stat(path)
        except FileNotFoundError:
            raise DatabaseMovedError(path, "was deleted or renamed", key) from None
        if (found.st_dev, found.st_ino) != (device, inode):
            raise DatabaseMovedError(path, "was replaced by another file", key)
        self._check_at = _monotonic() + _FILE_CHECK_S

    def _check_schema(self) -> None:
        table = self._table
        columns, _ = self._run(COLUMNS_SQL, (table,), None)
        pk_index, _ = self._run(PK_INDEX_SQL, (table,), None)
        collation = None
        if pk_index:
            collations, _ = self._run(PK_COLLATION_SQL, (pk_index[0][0],), None)
            collation = collations[0][0] if collations else None
        reason = check_columns(table, columns, collation)
        if reason is not None:
            raise SchemaError(table, reason)

    # -- the contract -------------------------------------------------------------------

    async def get(self, key: str) -> V | None:
        """The value at ``key``, or ``None``. One SELECT; an expired row reads as missing
        and costs a second statement, a DELETE. Raises ``CorruptValueError`` naming the
        key when the stored text is not JSON."""
        key = check_key(key)  # TypeError naming a non-str key, before any SQL
        if due():
            await pause()
        if self._pending_start:
            self._start_sweeper()
        row = self._run_one(self._sql.get, (key,), key)
        if row is None:
            return None
        expires_at = row[1]
        if expires_at is not None:
            now = self._clock()
            try:
                expired = expires_at < now  # live while expires_at >= now
            except TypeError:  # TEXT or BLOB written by hand: not a time
                raise CorruptValueError(
                    key,
                    f"column expires_at holds {type(expires_at).__name__} "
                    f"{expires_at!r:.40}, not unix milliseconds (an INTEGER) or NULL",
                ) from None
            if expired:
                if _monotonic() >= self._check_at:
                    self._check_file(key)
                # Only the row that is still expired: another process may have rewritten it.
                self._run_change(self._sql.delete_expired_key, (key, now), key)
                return None
        value: V = decode_value(key, row[0])
        return value

    async def set(self, key: str, value: V) -> None:
        """Store ``value`` (as JSON) at ``key``, expiring ``ttl_ms`` from now when set.
        One INSERT ... ON CONFLICT DO UPDATE (without ``ttl_ms``, one that leaves
        ``expires_at`` and its indexes alone, and a second, full one only when the row
        there has an expiry to clear). A value JSON cannot hold raises
        ``TypeError``/``ValueError`` naming the key before any SQL runs."""
        key = check_key(key)  # TypeError naming a non-str key, before any SQL
        text = encode_value(key, value)
        if due():
            await pause()
        if self._pending_start:
            self._start_sweeper()
        if _monotonic() >= self._check_at:
            self._check_file(key)
        ttl = self._ttl_ms
        expires_at = None if ttl is None else self._clock() + ttl
        if self._checkpointer is not None:
            # A large value writes a page per 4 KiB: it counts as that many statements.
            self._until_poke -= len(text) >> 12
        if expires_at is None and self._run_change(self._sql.set_unexpiring, (key, text), key):
            return
        self._run_change(self._sql.set, (key, text, expires_at), key)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is fine. One DELETE."""
        key = check_key(key)  # TypeError naming a non-str key, before any SQL
        if due():
            await pause()
        if self._pending_start:
            self._start_sweeper()
        if _monotonic() >= self._check_at:
            self._check_file(key)
        self._run_change(self._sql.delete, (key,), key)

    async def has(self, key: str) -> bool:
        """Whether ``key`` holds a live value (``None`` included). One SELECT, of the
        covering index only (never the row and its value) once the index exists."""
        key = check_key(key)  # TypeError naming a non-str key, before any SQL
        if due():
            await pause()
        if self._pending_start:
            self._start_sweeper()
        if self._covered:
            try:
                return self._run_one(self._sql.has_covered, (key, self._clock()), key) is not None
            except Exception as exc:
                if "no such index" not in str(exc):
                    raise
                self._covered = False  # dropped by hand since the store opened: read rows
        return self._run_one(self._sql.has, (key, self._clock()), key) is not None

    async def touch(self, key: str) -> None:
        """Restart ``key``'s ttl (``ttl_ms`` from now); a missing or expired key stays
        missing. One UPDATE; without ``ttl_ms`` nothing expires and no SQL runs."""
        key = check_key(key)  # TypeError naming a non-str key, before any SQL
        ttl = self._ttl_ms
        if ttl is None:
            return
        if due():
            await pause()
        if self._pending_start:
            self._start_sweeper()
        if _monotonic() >= self._check_at:
            self._check_file(key)
        now = self._clock()
        self._run_change(self._sql.touch, (now + ttl, key, now), key)

    async def get_and_touch(self, key: str) -> V | None:
        """``get`` and ``touch`` at once: one UPDATE ... RETURNING with ``ttl_ms``
        (an expired row is left for the sweep), else exactly ``get``."""
        key = check_key(key)  # TypeError naming a non-str key, before any SQL
        ttl = self._ttl_ms
        if ttl is None:
            return await self.get(key)
        if due():
            await pause()
        if self._pending_start:
            self._start_sweeper()
        if _monotonic() >= self._check_at:
            self._check_file(key)
        now = self._clock()
        row = self._run_one(self._sql.get_and_touch, (now + ttl, key, now), key)
        if row is None:
            return None
        value: V = decode_value(key, row[0])
        return value

    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        """Add one hit to the fixed window at ``key``; return ``(hits, reset_at_ms)``.

        One INSERT ... ON CONFLICT DO UPDATE ... RETURNING, so concurrent hits from any
        number of connections and processes count exactly. The row holds
        ``{"hits": n, "resetAt": unix_ms}`` and expires at ``resetAt``; a missing row, an
        expired one or one whose ``resetAt`` has passed starts a new window. Raises
        ``ForeignValueError`` (a ``ValueError``) naming the key when the live row there
        is not a counter (another plugin's record), and ``CorruptValueError`` when the
        stored text is not JSON; in both cases the row is left as it was. ``window_ms``
        goes through ``check_ms``."""
        key = check_key(key)  # TypeError naming a non-str key, before any SQL
        window_ms = check_ms("window_ms", window_ms, owner="SqliteStorage.count_hit")
        if due():
            await pause()
        if self._pending_start:
            self._start_sweeper()
        if _monotonic() >= self._check_at:
            self._check_file(key)
        now = self._clock()
        reset_at = now + window_ms
        params = (key, reset_at, reset_at, now, now, now, now, now)
        row = self._run_one(self._sql.count_hit, params, key)
        if row is None:
            raise ForeignValueError(
                key, 'is live and not a rate-limit counter {"hits": int, "resetAt": unix_ms}'
            )
        return int(row[0]), int(row[1])

    # -- leases -----------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, key: str, *, lease_ms: int = 30_000) -> AsyncIterator[SqliteLease[V]]:
        """``async with storage.lock(key) as lease:`` waits until ``key`` is free across
        every connection and process on the file, takes it for at most ``lease_ms`` and
        reads its value (one ``INSERT ... ON CONFLICT ... RETURNING``).

        Tasks of this store wait in-process for their turn (no SQL while they wait);
        the task whose turn it is retries a held lease with backoff (1 ms doubling to
        50 ms, with jitter). A holder that dies or hangs frees the key after
        ``lease_ms``. Leaving the block releases the lease without writing; see
        ``SqliteLease`` for ``save``, ``remove`` and ``release``. The first ``lock`` of a
        store creates the lease table ``<table>:leases`` if missing (a write: on a
        read-only database it raises the driver's ``OperationalError``). ``lease_ms``
        goes through ``check_ms``. Raises ``CorruptValueError`` (after releasing) when
        the stored value is not JSON.
        """
        key = check_key(key)
        lease_ms = check_ms("lease_ms", lease_ms, owner="SqliteStorage.lock")
        if due():
            await pause()
        if self._pending_start:
            self._start_sweeper()
        if not self._lease_table_known:
            if _monotonic() >= self._check_at:
                self._check_file(key)
            self._run_change(self._sql.create_leases, (), None)
            self._lease_table_known = True
        queue = self._lease_queue
        turn = await queue.acquire(key, lease_ms)
        try:
            lease: SqliteLease[V] = await take(self, key, lease_ms, turn)
        except BaseException:
            queue.release(key, turn)
            raise
        try:
            yield lease
        finally:
            await lease.release()

    def _try_lease(self, key: str, token: str, lease_ms: int) -> tuple[bool, Any] | None:
        """One attempt at ``key``'s lease row: ``None`` when another token holds it, else
        ``(found, value)`` read in the same statement. A value that cannot be read
        releases the lease it was taken with and raises ``CorruptValueError``."""
        if _monotonic() >= self._check_at:
            self._check_file(key)
        now = self._clock()
        params = (key, token, now + lease_ms, now, key, key)
        rows, _ = self._run(self._sql.take_lease, params, key)
        if not rows:
            return None
        raw, expires_at = rows[0]
        try:
            if raw is None:
                return False, None
            if expires_at is not None:
                try:
                    expired = expires_at < now
                except TypeError:
                    raise CorruptValueError(
                        key,
                        f"column expires_at holds {type(expires_at).__name__} "
                        f"{expires_at!r:.40}, not unix milliseconds (an INTEGER) or NULL",
                    ) from None
                if expired:
                    return False, None
            return True, decode_value(key, raw)
        except BaseException:
            self._run_change(self._sql.drop_lease, (key, token), key)
            raise

    def _run_fenced(self, key: str, token: str, sql: str, params: tuple[Any, ...]) -> bool:
        """In one transaction: end ``key``'s lease if ``token`` still holds it (its row
        is there and not expired), and only then run ``sql``. Return whether it held.

        The DELETE of the lease comes first, so the transaction takes the write lock
        before it reads anything (no deadlock between two upgrading readers). With the
        driver in autocommit (``isolation_level=None``, ``autocommit=True``) or with
        implicit transactions, the store sends ``BEGIN IMMEDIATE`` and ``COMMIT``
        itself; with ``autocommit=False`` the driver's own transaction is committed.
        """
        if _monotonic() >= self._check_at:
            self._check_file(key)
        db = self._db
        always_open = getattr(db, "autocommit", None) is False
        if db.in_transaction and not always_open:
            self._check_transaction()
        now = self._clock()
        try:
            if not always_open:
                db.execute("BEGIN IMMEDIATE")
            held = bool(db.execute(self._sql.end_lease, (key, token, now)).rowcount == 1)
            if held:
                db.execute(sql, params).fetchall()
            if always_open:
                if held:
                    db.commit()
                else:
                    db.rollback()
            else:
                db.execute("COMMIT" if held else "ROLLBACK")
        except BaseException as exc:
            try:
                if db.in_transaction:
                    if always_open:
                        db.rollback()
                    else:
                        db.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            self._abort(exc, key)
            raise
        return held

    # -- iteration ----------------------------------------------------------------------

    def keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        """Yield every live key in key order, ``_PAGE`` rows per SELECT (keyset
        pagination, never OFFSET): memory stays bounded whatever the table holds.
        Each page is read fresh, so a key written or deleted during the walk may or may
        not be seen; no key is yielded twice. The SELECTs read the covering index
        only. Before each page the walk yields to the loop when its time slice ran out.

        ``prefix``: only the keys that start with it (a plain string, no wildcards),
        read as the key range ``prefix <= key < end`` of the index: the walk costs what
        the namespace holds, not the table. A non-``str`` prefix is a ``TypeError``, a
        lone surrogate a ``ValueError``, both raised at the call."""
        low, high = _key_range(prefix, "keys")
        return self._walk_keys(low, high)

    def values(self, *, prefix: str = "") -> AsyncIterator[V]:
        """Yield the value of every live key (that starts with ``prefix``), paged like
        ``keys``."""
        low, high = _key_range(prefix, "values")
        return self._walk_values(low, high)

    def entries(self, *, prefix: str = "") -> AsyncIterator[tuple[str, V]]:
        """Yield ``(key, value)`` for every live key (that starts with ``prefix``),
        paged like ``keys``, yielding to the loop between two rows when the slice ran
        out. Raises ``CorruptValueError`` naming the key at a row that is not JSON."""
        low, high = _key_range(prefix, "entries")
        return self._walk_entries(low, high)

    async def _walk_keys(self, low: str, high: str | None) -> AsyncIterator[str]:
        sql = self._sql
        first, following = (
            (sql.first_keys, sql.next_keys)
            if high is None
            else (sql.first_keys_below, sql.next_keys_below)
        )
        statement, after = first, low
        while True:
            if due():
                await pause()
            rows = self._page(statement, after, high)
            for (key,) in rows:
                yield key
            if len(rows) < _PAGE:
                return
            statement, after = following, rows[-1][0]

    async def _walk_values(self, low: str, high: str | None) -> AsyncIterator[V]:
        async for _, value in self._walk_entries(low, high):
            yield value

    async def _walk_entries(self, low: str, high: str | None) -> AsyncIterator[tuple[str, V]]:
        sql = self._sql
        first, following = (
            (sql.first_entries, sql.next_entries)
            if high is None
            else (sql.first_entries_below, sql.next_entries_below)
        )
        statement, after = first, low
        while True:
            if due():
                await pause()
            rows = self._page(statement, after, high)
            for key, raw in rows:
                if due():
                    await pause()
                value: V = decode_value(key, raw)
                yield key, value
            if len(rows) < _PAGE:
                return
            statement, after = following, rows[-1][0]

    def _page(self, statement: str, after: str, high: str | None) -> list[Any]:
        """One page of live rows in key order, from ``after`` on (the first page) or
        after it (the next ones), below ``high`` when there is one. One synchronous
        statement, leaving nothing open."""
        if self._pending_start:
            self._start_sweeper()
        now = self._clock()
        params = (after, now, _PAGE) if high is None else (after, high, now, _PAGE)
        rows, _ = self._run(statement, params, None)
        return rows

    # -- expiry and lifetime ------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete every row expired now and return how many, in batches: each batch is
        one DELETE (and one commit) of the first expired rows in expiry order, found
        through the partial index on ``expires_at``, so the cost follows the expired
        rows, not the table. Batches are sized to take about 2 ms, and the
        sweep yields to the loop between two of them when its slice ran out. Writes of
        other tasks may run between batches; a cancelled sweep keeps the batches it
        committed. Once the store knows the lease table, one more DELETE removes
        expired leases (not counted)."""
        return await self._sweep()

    async def close(self) -> None:
        """Stop the periodic sweeps (waiting until they have stopped) and, for a store
        made by ``open``, close its connection. Safe to call more than once. A store
        given ``db=`` stays usable; its connection is yours to close."""
        self._closed = True
        self._pending_start = False
        if self._sweeper is not None:
            await self._sweeper.stop()
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._owns_db:
            self._owns_db = False
            self._db.close()

    async def __aenter__(self) -> SqliteStorage[V]:
        if self._pending_start:
            self._start_sweeper()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"SqliteStorage(table={self._table!r}, ttl_ms={self._ttl_ms!r})"

    # -- one statement, committed -------------------------------------------------------

    async def _sweep(self) -> int:
        if due():
            await pause()
        if _monotonic() >= self._check_at:
            self._check_file(None)
        now = self._clock()
        if self._lease_table_known:
            self._run_change(self._sql.sweep_leases, (now,), None)
        statement, size, total = self._sql.sweep_batch, _SWEEP_FIRST, 0
        while True:
            started = perf_counter()
            deleted = self._run_change(statement, (now, size), None)
            total += deleted
            if self._checkpointer is not None:
                self._checkpointer.poke()  # a batch writes many pages
            if deleted < size:
                return total
            took = perf_counter() - started
            if took < _SWEEP_TARGET_S / 2:
                size = min(size * 2, _SWEEP_MAX)
            elif took > _SWEEP_TARGET_S * 2:
                size = max(size // 2, _SWEEP_MIN)
            if due():
                await pause()
            if _monotonic() >= self._check_at:
                self._check_file(None)

    def _start_sweeper(self) -> None:
        self._pending_start = False
        if self._sweeper is not None and not self._closed:
            self._sweeper.start()

    def _run(self, sql: str, params: tuple[Any, ...], key: str | None) -> tuple[list[Any], int]:
        """Run one statement to its end, commit if the driver began a transaction, and
        return its rows and its rowcount. ``fetchall``, not ``fetchone``: stepping to the
        end resets the statement, and some drivers (pysqlite3) leave it active after
        ``fetchone``, which keeps a read open and, in autocommit mode, holds back the
        commit of later writes. On failure, rolls back and raises (see ``_abort``)."""
        db = self._db
        if db.in_transaction:
            self._check_transaction()
        try:
            cursor = db.execute(sql, params)
            rows: list[Any] = cursor.fetchall()
            if db.in_transaction:
                db.commit()
        except BaseException as exc:
            self._abort(exc, key)
            raise
        if self._checkpointer is not None:
            self._until_poke -= 1
            if self._until_poke <= 0:
                self._until_poke = POKE_EVERY
                self._checkpointer.poke()
        return rows, cursor.rowcount

    def _run_one(self, sql: str, params: tuple[Any, ...], key: str | None) -> Any:
        """``_run``, returning its only row or ``None``."""
        rows, _ = self._run(sql, params, key)
        return rows[0] if rows else None

    def _run_change(self, sql: str, params: tuple[Any, ...], key: str | None) -> int:
        """``_run`` for a statement that returns no rows: how many rows it changed."""
        return self._run(sql, params, key)[1]

    def _check_transaction(self) -> None:
        # With autocommit=False (Python 3.12+) the driver keeps a transaction open at all
        # times; the store commits after each statement, which also commits anything else
        # pending on the connection. Otherwise an open transaction is the caller's, and
        # committing it (or writing inside it, uncommitted) would break someone's promise.
        if getattr(self._db, "autocommit", None) is False:
            return
        raise RuntimeError(
            f"the connection given to {self!r} is inside a transaction the store did not "
            f"open; commit or roll it back first, or give the store its own connection"
        )

    def _abort(self, exc: BaseException, key: str | None) -> None:
        """Undo what the failed statement began, then raise a clearer error when there is
        one to give (the caller re-raises ``exc`` otherwise)."""
        db = self._db
        try:
            if db.in_transaction:
                db.rollback()
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        if not isinstance(exc, Exception):
            return
        message = str(exc)
        if key is not None and "malformed JSON" in message:
            raise CorruptValueError(key, message) from exc
        code = getattr(exc, "sqlite_errorcode", None)
        if (code is not None and code & 0xFF == _SQLITE_READONLY) or (
            code is None and "readonly database" in message
        ):
            if self._file is not None:
                # SQLite refuses to write a moved file when it needs a rollback journal
                # (SQLITE_READONLY_DBMOVED; pysqlite3 reports only SQLITE_READONLY):
                # the same error as a write's own look gives.
                self._check_file(key)
            which = "" if key is None else f" (key {describe_key(key)})"
            clearer = type(exc)(
                f"{self!r} cannot write to a read-only database{which}: it was opened with "
                f"mode=ro, or the file or its folder is not writable, or PRAGMA query_only "
                f"is on: {message}"
            )
            for name in ("sqlite_errorcode", "sqlite_errorname"):
                if hasattr(exc, name):
                    setattr(clearer, name, getattr(exc, name))
            raise clearer from exc
