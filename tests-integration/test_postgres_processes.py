"""PostgresStorage across processes and through a crash of the server.

- four processes racing on one counter count exactly (``count_hit`` is one statement);
- four processes incrementing one key under ``lock`` lose no increment;
- the server SIGKILLed and restarted while a store writes: every write that was
  acknowledged (its coroutine returned) is there after the restart.

asyncio only (asyncpg). Skips with one line when there is no PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from puregram.storage_postgres import PostgresStorage
from tools.children import release_together
from tools.postgres_harness import PostgresServer

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent
ROOT = HERE.parent
WORKERS = 4


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _race(dsn: str, table: str, mode: str, per_worker: int) -> list[list[int]]:
    """Start the children, release them together, and return what each one saw."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
    children = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_pg_child.py"), dsn, table, mode, str(per_worker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(WORKERS)
    ]
    try:
        release_together(children)
        results = []
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


async def _drop(dsn: str, table: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP TABLE IF EXISTS "{table}", "{table}:leases"')
    finally:
        await conn.close()


async def test_four_processes_count_one_counter_exactly(postgres_url: str) -> None:
    table = f"race_{uuid.uuid4().hex[:12]}"
    per_worker = 150
    try:
        seen = _race(postgres_url, table, "count", per_worker)
        total = WORKERS * per_worker
        # Every hit got its own count: 1..total, each exactly once, across the processes.
        assert sorted(hit for child in seen for hit in child) == list(range(1, total + 1))
        async with PostgresStorage.open(postgres_url, table=table) as store:
            record = await store.get("hits")
        assert isinstance(record, dict)
        assert record["hits"] == total
        assert set(record) == {"hits", "resetAt"}
    finally:
        await _drop(postgres_url, table)


async def test_a_lease_excludes_across_processes(postgres_url: str) -> None:
    table = f"lease_{uuid.uuid4().hex[:12]}"
    per_worker = 25
    try:
        seen = _race(postgres_url, table, "lease", per_worker)
        total = WORKERS * per_worker
        assert sorted(n for child in seen for n in child) == list(range(1, total + 1))
        async with PostgresStorage.open(postgres_url, table=table) as store:
            assert await store.get("n") == total
    finally:
        await _drop(postgres_url, table)


_DOWN = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


async def test_a_killed_and_restarted_server_loses_no_acknowledged_write(
    postgres_server_factory: Any,
) -> None:
    """Writes (``set`` of a new key, and ``count_hit`` on one counter) until 150 were
    acknowledged, SIGKILL the server, keep writing while it is down (each fails), start it
    again, write until 150 more were acknowledged. Afterwards every acknowledged key
    holds its value, and the counter holds at least the acknowledged hits and at most
    those plus the hits that failed (a hit may be applied before its reply is lost)."""
    server: PostgresServer = postgres_server_factory()
    pool = await asyncpg.create_pool(server.url, min_size=1, max_size=2, timeout=2)
    store: PostgresStorage[Any] = PostgresStorage(pool=pool)
    acked: list[int] = []
    failed: list[int] = []
    hits_acked = hits_failed = 0
    restarted_at: int | None = None
    n = 0
    try:
        while restarted_at is None or len(acked) < restarted_at + 150:
            n += 1
            assert n < 5_000, "the store did not recover after the restart"
            try:
                await store.set(f"k{n}", {"n": n})
            except _DOWN:
                failed.append(n)
            else:
                acked.append(n)
            try:
                await store.count_hit("hits", 3_600_000)
            except _DOWN:
                hits_failed += 1
            else:
                hits_acked += 1
            if len(acked) == 150 and server.running and restarted_at is None and not failed:
                server.kill()
            elif not server.running and len(failed) >= 10:
                server.start()
                restarted_at = len(acked)
        assert len(failed) >= 10, "writes did not fail while the server was down"
    finally:
        await pool.close()

    async with PostgresStorage.open(server.url) as again:
        for key in acked:
            assert await again.get(f"k{key}") == {"n": key}, f"acknowledged k{key} was lost"
        record = await again.get("hits")
    assert isinstance(record, dict)
    assert hits_acked <= record["hits"] <= hits_acked + hits_failed
