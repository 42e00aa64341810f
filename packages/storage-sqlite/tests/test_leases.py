"""Leases: lock() across tasks, store instances and processes on one file, dead
holders, fencing of stale writes, and the lease table.

Real files throughout. Where a lease must run out, the stores share an injected clock
that the test moves; where a local turn must run out (a hung task of the same store),
leases are short and real (200 ms) and the waits have seconds of margin.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from puregram.storage import CorruptValueError, LeaseLostError, is_lock_storage
from puregram.storage_sqlite import SqliteStorage, connect
from tools.children import release_together

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000
CHILD = str(Path(__file__).with_name("_child.py"))
LEASES = '"puregram_kv:leases"'


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "kv.db"


@pytest.fixture
def db(path: Path, driver: ModuleType) -> Any:
    connection = connect(path, driver=driver)
    yield connection
    connection.close()


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lease_rows(db: Any) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = db.execute(
        f"SELECT key, expires_at FROM {LEASES} ORDER BY key"
    ).fetchall()
    return rows


async def test_a_lease_reads_saves_removes_and_releases(db: Any) -> None:
    clock = Clock()
    store: SqliteStorage[Any] = SqliteStorage(db=db, ttl_ms=1_000, clock=clock)
    assert is_lock_storage(store)
    async with store.lock("k") as lease:
        assert (lease.key, lease.found, lease.value) == ("k", False, None)
        assert lease_rows(db) == [("k", T0 + 30_000)]
        await lease.save({"n": 1})
        assert lease_rows(db) == [], "save ends the lease in the same transaction"
    assert db.execute("SELECT value, expires_at FROM puregram_kv").fetchall() == [
        ('{"n":1}', T0 + 1_000)
    ]
    async with store.lock("k", lease_ms=500) as lease:
        assert (lease.found, lease.value) == (True, {"n": 1})
        assert lease_rows(db) == [("k", T0 + 500)]
        clock.now += 400
        await lease.release(touch=True)
        await lease.release()  # a second release does nothing
    assert db.execute("SELECT expires_at FROM puregram_kv").fetchone() == (T0 + 1_400,)
    async with store.lock("k") as lease:
        await lease.remove()
        with pytest.raises(RuntimeError, match="ended already"):
            await lease.save(2)
    assert not await store.has("k")
    async with store.lock("k"):
        pass  # leaving the block releases without writing
    assert lease_rows(db) == []
    assert not await store.has("k")


async def test_a_stored_none_is_found(db: Any) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    await store.set("k", None)
    async with store.lock("k") as lease:
        assert (lease.found, lease.value) == (True, None)


async def test_an_expired_value_is_not_found(db: Any) -> None:
    clock = Clock()
    store: SqliteStorage[Any] = SqliteStorage(db=db, ttl_ms=100, clock=clock)
    await store.set("k", 1)
    clock.now += 101
    async with store.lock("k") as lease:
        assert (lease.found, lease.value) == (False, None)


async def test_a_corrupt_value_raises_and_releases(db: Any) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    db.execute("INSERT INTO puregram_kv VALUES ('k', '{not json', NULL)")
    with pytest.raises(CorruptValueError, match="'k'"):
        async with store.lock("k"):
            pass
    db.execute("""UPDATE puregram_kv SET value = '"fixed"'""")
    with anyio.fail_after(5):
        async with store.lock("k") as lease:  # not left held
            assert lease.value == "fixed"
    assert await store.get("k") == "fixed"


async def test_the_lease_table_sits_beside_the_data_and_is_made_on_first_lock(
    db: Any,
) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    tables = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    assert db.execute(tables).fetchall() == [("puregram_kv",)]
    async with store.lock("k") as lease:
        await lease.save([1])
    assert db.execute(tables).fetchall() == [("puregram_kv",), ("puregram_kv:leases",)]
    columns = db.execute(f"PRAGMA table_info({LEASES})").fetchall()
    assert [(c[1], c[2], c[3], c[5]) for c in columns] == [
        ("key", "TEXT", 0, 1),
        ("token", "TEXT", 1, 0),
        ("expires_at", "INTEGER", 1, 0),
    ]
    # The data row is exactly what set() writes, the TypeScript package's format.
    assert db.execute("SELECT * FROM puregram_kv").fetchall() == [("k", "[1]", None)]


async def test_a_read_only_database_reads_and_refuses_a_lock(
    path: Path, driver: ModuleType
) -> None:
    writer = SqliteStorage.open(path, driver=driver)
    await writer.set("k", 1)
    await writer.close()
    store = SqliteStorage.open(path, driver=driver, read_only=True)
    assert await store.get("k") == 1
    with pytest.raises(driver.OperationalError, match="read-only database"):
        async with store.lock("k"):
            pass
    await store.close()


@pytest.mark.parametrize(
    ("lease_ms", "error"), [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)]
)
async def test_lease_ms_is_checked_like_every_option(
    db: Any, lease_ms: Any, error: type[Exception]
) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    with pytest.raises(error, match="lease_ms"):
        async with store.lock("k", lease_ms=lease_ms):
            pass
    assert statements == []


async def test_two_stores_on_two_connections_lose_no_update(path: Path, driver: ModuleType) -> None:
    """A read-modify-write counter under lock(): 2 instances x 40 tasks, each task
    yielding to the others while it holds the lease."""
    first, second = connect(path, driver=driver), connect(path, driver=driver)
    stores: list[SqliteStorage[int]] = [SqliteStorage(db=first), SqliteStorage(db=second)]

    async def add(store: SqliteStorage[int]) -> None:
        async with store.lock("n", lease_ms=10_000) as lease:
            current = lease.value or 0
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            await lease.save(current + 1)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for index in range(80):
                group.start_soon(add, stores[index % 2])
    assert await stores[0].get("n") == 80
    assert lease_rows(first) == []
    first.close()
    second.close()


async def test_waiters_of_one_store_send_no_sql_until_the_holder_leaves(db: Any) -> None:
    store: SqliteStorage[int] = SqliteStorage(db=db)
    statements: list[str] = []
    entered = anyio.Event()
    leave = anyio.Event()

    async def holder() -> None:
        async with store.lock("n") as lease:
            entered.set()
            await leave.wait()
            await lease.save(1)

    async def waiter() -> None:
        async with store.lock("n") as lease:
            await lease.save((lease.value or 0) + 1)

    async with anyio.create_task_group() as group:
        group.start_soon(holder)
        await entered.wait()
        db.set_trace_callback(statements.append)
        for _ in range(10):
            group.start_soon(waiter)
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert statements == [], "a waiter polled the database"
        leave.set()
    db.set_trace_callback(None)
    assert await store.get("n") == 11


async def test_a_lease_held_elsewhere_is_retried_with_backoff(
    path: Path, driver: ModuleType
) -> None:
    """Another instance holds the key for about 300 ms: the waiter's attempts follow
    1, 2, 4, ... 50 ms, so a handful, not a busy loop."""
    first, second = connect(path, driver=driver), connect(path, driver=driver)
    holder: SqliteStorage[int] = SqliteStorage(db=first)
    waiter: SqliteStorage[int] = SqliteStorage(db=second)
    attempts: list[str] = []
    second.set_trace_callback(lambda sql: attempts.append(sql) if "INSERT" in sql else None)
    async with holder.lock("n") as lease, anyio.create_task_group() as group:

        async def wait_for_it() -> None:
            async with waiter.lock("n") as other:
                await other.save((other.value or 0) + 1)

        group.start_soon(wait_for_it)
        await anyio.sleep(0.3)
        await lease.save(10)
    second.set_trace_callback(None)
    assert await waiter.get("n") == 11
    # 0.3 s of waiting: ~7 attempts to reach the 50 ms cap, then ~4 more; a busy loop
    # would make thousands.
    assert 3 <= len(attempts) <= 40, len(attempts)
    first.close()
    second.close()


async def test_a_stale_holder_cannot_overwrite_the_next_holders_save(
    path: Path, driver: ModuleType
) -> None:
    """Fencing: A's lease runs out (the shared clock moves past lease_ms), B takes the
    key and saves; A's save is refused with LeaseLostError and B's value stays."""
    clock = Clock()
    first, second = connect(path, driver=driver), connect(path, driver=driver)
    a: SqliteStorage[str] = SqliteStorage(db=first, clock=clock)
    b: SqliteStorage[str] = SqliteStorage(db=second, clock=clock)
    async with a.lock("k", lease_ms=1_000) as stale:
        clock.now += 1_001
        with anyio.fail_after(5):
            async with b.lock("k", lease_ms=1_000) as fresh:
                await fresh.save("B")
        with pytest.raises(LeaseLostError, match="'k'") as caught:
            await stale.save("A")
        assert caught.value.key == "k"
    assert await a.get("k") == "B"
    first.close()
    second.close()


async def test_a_write_after_lease_ms_is_refused_even_if_nobody_took_the_key(
    db: Any,
) -> None:
    clock = Clock()
    store: SqliteStorage[str] = SqliteStorage(db=db, ttl_ms=5_000, clock=clock)
    await store.set("k", "before")
    async with store.lock("k", lease_ms=1_000) as lease:
        clock.now += 1_000
        await lease.save("at the last millisecond")  # live while expires_at >= now
    async with store.lock("k", lease_ms=1_000) as lease:
        clock.now += 1_001
        with pytest.raises(LeaseLostError):
            await lease.remove()
    async with store.lock("k", lease_ms=1_000) as lease:
        clock.now += 1_001
        await lease.release(touch=True)  # lost: no error, and no touch
    assert db.execute("SELECT expires_at FROM puregram_kv").fetchone() == (T0 + 6_000,)
    assert await store.get("k") == "at the last millisecond"


async def test_an_abandoned_lease_of_another_store_ends_at_lease_ms(
    path: Path, driver: ModuleType
) -> None:
    """__aenter__ without __aexit__ (a task that hung): another store takes the key
    once the shared clock passes lease_ms, and the abandoned lease cannot write."""
    clock = Clock()
    first, second = connect(path, driver=driver), connect(path, driver=driver)
    a: SqliteStorage[str] = SqliteStorage(db=first, clock=clock)
    b: SqliteStorage[str] = SqliteStorage(db=second, clock=clock)
    abandoned = a.lock("k", lease_ms=2_000)
    stale = await abandoned.__aenter__()
    with anyio.move_on_after(0.1) as waited:
        async with b.lock("k"):
            pass
    assert waited.cancelled_caught, "the key was taken while its lease was live"
    clock.now += 2_001
    with anyio.fail_after(5):
        async with b.lock("k") as lease:
            await lease.save("B")
    with pytest.raises(LeaseLostError):
        await stale.save("A")
    assert await b.get("k") == "B"
    await abandoned.__aexit__(None, None, None)  # the generator must not be left to GC
    first.close()
    second.close()


async def test_a_hung_task_of_the_same_store_frees_the_key_after_lease_ms(db: Any) -> None:
    store: SqliteStorage[str] = SqliteStorage(db=db)
    abandoned = store.lock("k", lease_ms=200)
    stale = await abandoned.__aenter__()
    with anyio.fail_after(10):
        async with store.lock("k") as lease:
            await lease.save("next")
    with pytest.raises(LeaseLostError):
        await stale.save("stale")
    assert await store.get("k") == "next"
    await abandoned.__aexit__(None, None, None)  # the generator must not be left to GC


async def test_a_cancelled_waiter_leaves_the_queue(db: Any) -> None:
    store: SqliteStorage[int] = SqliteStorage(db=db)
    async with store.lock("k") as lease:
        with anyio.move_on_after(0.05):
            async with store.lock("k"):
                pytest.fail("took a held key")
        await lease.save(1)
    with anyio.fail_after(5):
        async with store.lock("k") as lease:
            assert lease.value == 1
    assert len(store._lease_queue) == 0


async def test_sweep_deletes_expired_leases(db: Any) -> None:
    clock = Clock()
    store: SqliteStorage[str] = SqliteStorage(db=db, clock=clock)
    abandoned = store.lock("dead", lease_ms=1_000)
    await abandoned.__aenter__()
    async with store.lock("live", lease_ms=10_000):
        clock.now += 1_001
        assert await store.sweep() == 0, "leases are not counted"
        assert [row[0] for row in lease_rows(db)] == ["live"]
    await abandoned.__aexit__(None, None, None)  # the generator must not be left to GC


async def test_a_caller_transaction_in_progress_is_refused(path: Path, driver: ModuleType) -> None:
    """The write is refused and the lease goes on: leaving the block releases it."""
    db = driver.connect(str(path), isolation_level=None)
    store: SqliteStorage[int] = SqliteStorage(db=db)
    async with store.lock("k") as lease:
        db.execute("BEGIN")
        with pytest.raises(RuntimeError, match="inside a transaction"):
            await lease.save(1)
        db.execute("ROLLBACK")
    assert lease_rows(db) == []
    with anyio.fail_after(5):
        async with store.lock("k") as lease:
            await lease.save(2)
    assert await store.get("k") == 2
    db.close()


def test_processes_lose_no_update(tmp_path: Path, driver: ModuleType) -> None:
    """Three processes (asyncio, trio, asyncio), two tasks each, 60 read-modify-write
    increments per process on one key under lock(): exactly 180."""
    path = str(tmp_path / "shared.db")
    setup = connect(path, driver=driver)
    SqliteStorage(db=setup)  # the table exists before the race
    setup.close()
    per_process = 60
    backends = ("asyncio", "trio", "asyncio")
    children = [
        subprocess.Popen(
            [sys.executable, CHILD, "count", path, driver.__name__, str(per_process), backend],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for backend in backends
    ]
    try:
        release_together(children)
        results = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    for child, (_, stderr) in zip(children, results, strict=True):
        assert child.returncode == 0, stderr
    db = driver.connect(path)
    value = db.execute("SELECT value FROM puregram_kv WHERE key = 'n'").fetchone()
    leases = db.execute(f"SELECT count(*) FROM {LEASES}").fetchone()
    db.close()
    assert json.loads(value[0]) == per_process * len(backends)
    assert leases == (0,)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
async def test_a_killed_holder_frees_the_key_after_lease_ms(path: Path, driver: ModuleType) -> None:
    lease_ms = 1_000
    await SqliteStorage.open(path, driver=driver).close()  # the table, before the child
    child = spawn("hold", str(path), driver.__name__, str(lease_ms))
    try:
        assert child.stdout is not None
        line = await anyio.to_thread.run_sync(child.stdout.readline)
        assert line == "held\n", child.stderr and child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate(timeout=30)  # reaps the child and closes its pipes
    store = SqliteStorage.open(path, driver=driver)
    started = anyio.current_time()
    with anyio.fail_after(10):
        async with store.lock("held") as lease:
            assert lease.value == "from the child"
            await lease.save("after the child")
    # It had to wait for the dead holder's lease (taken < 1 s before the kill) to end.
    assert anyio.current_time() - started < 10
    assert await store.get("held") == "after the child"
    await store.close()
