"""PostgresStorage get/set/update against the raw driver, the two async drivers against
each other, and py-key-value-aio's PostgreSQL store when it is installed.

One server (``--postgres-url``, else ``$PUREGRAM_POSTGRES_URL``, else one started by
``tools/postgres_harness.py``), one run, rounds interleaved; the best round of each
contestant counts. Prints µs per operation and ratios; asserts nothing.

- drivers: the store's three statements (get, set, update = ``UPDATE ... RETURNING``)
  on one connection of asyncpg and one of psycopg 3 (``AsyncConnection``, autocommit,
  prepared statements), both raw: what chose the driver;
- store: ``PostgresStorage`` on an asyncpg pool against the same statements (and
  ``json``) on the same pool: ``get``, ``set``, and ``get_and_touch`` as "update";
- py-key-value-aio: its ``PostgreSQLStore`` get/put against ``PostgresStorage``.

    python packages/storage-postgres/benchmarks/bench_postgres.py \
        [--postgres-url DSN] [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from puregram.storage_postgres import PostgresStorage

VALUE = {"counter": 42, "name": "alice", "step": "menu", "items": [1, 2, 3], "flag": True}
KEYS = [f"user:{index}" for index in range(1_000)]
TABLE = "bench_kv"
GET = f"SELECT value, expires_at FROM {TABLE} WHERE key = $1"
SET = (
    f"INSERT INTO {TABLE} (key, value, expires_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)
UPDATE = (
    f"UPDATE {TABLE} SET expires_at = $3 WHERE key = $1 "
    "AND (expires_at IS NULL OR expires_at >= $2) RETURNING value"
)
TTL_MS = 3_600_000

Step = Callable[[str], Awaitable[Any]]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def timed(ops: int, step: Step) -> float:
    keys, count = KEYS, len(KEYS)
    start = time.perf_counter()
    for index in range(ops):
        await step(keys[index % count])
    return (time.perf_counter() - start) / ops


def psycopg_sql(sql: str) -> str:
    """asyncpg's ``$n`` placeholders as psycopg's ``%s`` (the caller passes the
    parameters in the order they appear)."""
    for n in range(9, 0, -1):
        sql = sql.replace(f"${n}", "%s")
    return sql


async def main(url: str, rounds: int, scale: float) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=TABLE, ttl_ms=TTL_MS)
    for key in KEYS:
        await store.set(key, VALUE)
    text = json.dumps(VALUE, separators=(",", ":"))

    async def raw_get(key: str) -> Any:
        row = await pool.fetchrow(GET, key)
        return None if row is None else json.loads(row[0])

    async def raw_set(key: str) -> None:
        await pool.execute(SET, key, json.dumps(VALUE, separators=(",", ":")), now_ms() + TTL_MS)

    async def raw_update(key: str) -> Any:
        now = now_ms()
        raw = await pool.fetchval(UPDATE, key, now, now + TTL_MS)
        return None if raw is None else json.loads(raw)

    async def store_set(key: str) -> None:
        await store.set(key, VALUE)

    ops = int(4_000 * scale)
    contestants: dict[tuple[str, str], Callable[[], Awaitable[float]]] = {}
    for op, mine, raw in (
        ("get", store.get, raw_get),
        ("set", store_set, raw_set),
        ("update", store.get_and_touch, raw_update),
    ):
        contestants[(op, "store")] = partial(timed, ops, mine)
        contestants[(op, "raw asyncpg pool")] = partial(timed, ops, raw)

    # The drivers, raw, one connection each.
    apg = await asyncpg.connect(url)
    contestants[("get", "asyncpg")] = partial(timed, ops, lambda key: apg.fetchrow(GET, key))
    contestants[("set", "asyncpg")] = partial(
        timed, ops, lambda key: apg.execute(SET, key, text, now_ms() + TTL_MS)
    )
    contestants[("update", "asyncpg")] = partial(
        timed, ops, lambda key: apg.fetchval(UPDATE, key, now_ms(), now_ms() + TTL_MS)
    )
    psy: Any = None
    try:
        import psycopg
    except ImportError:
        print("psycopg is not installed: no driver comparison", file=sys.stderr)
    else:
        psy = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=0)
        pget, pset, pupd = psycopg_sql(GET), psycopg_sql(SET), psycopg_sql(UPDATE)

        async def psy_get(key: str) -> Any:
            cursor = await psy.execute(pget, (key,))
            return await cursor.fetchone()

        async def psy_set(key: str) -> None:
            await psy.execute(pset, (key, text, now_ms() + TTL_MS))

        async def psy_update(key: str) -> Any:
            now = now_ms()  # UPDATE's placeholders appear as $3, $1, $2
            cursor = await psy.execute(pupd, (now + TTL_MS, key, now))
            return await cursor.fetchone()

        contestants[("get", "psycopg")] = partial(timed, ops, psy_get)
        contestants[("set", "psycopg")] = partial(timed, ops, psy_set)
        contestants[("update", "psycopg")] = partial(timed, ops, psy_update)

    kv: Any = None
    try:
        from key_value.aio.stores.postgresql import PostgreSQLStore
    except ImportError as exc:
        print(f"py-key-value-aio's PostgreSQL store is not installed ({exc})", file=sys.stderr)
    else:
        kv = PostgreSQLStore(url=url)
        await kv.__aenter__()
        for key in KEYS:
            await kv.put(key, VALUE, collection="bench")
        contestants[("get", "py-key-value-aio")] = partial(
            timed, ops, lambda key: kv.get(key, collection="bench")
        )
        contestants[("set", "py-key-value-aio")] = partial(
            timed, ops, lambda key: kv.put(key, VALUE, collection="bench", ttl=TTL_MS / 1000)
        )

    best: dict[tuple[str, str], float] = {}
    for _ in range(rounds):
        for name, run in contestants.items():
            seconds = await run()
            best[name] = min(best.get(name, seconds), seconds)

    version = await pool.fetchval("SHOW server_version")
    await apg.close()
    if psy is not None:
        await psy.close()
    if kv is not None:
        await kv.__aexit__(None, None, None)
    await pool.execute(f'DROP TABLE IF EXISTS {TABLE}, "{TABLE}:leases"')
    await store.close()
    await pool.close()

    def us(op: str, who: str) -> str:
        seconds = best.get((op, who))
        return "-" if seconds is None else f"{seconds * 1e6:.0f}"

    def ratio(op: str, a: str, b: str) -> str:
        x, y = best.get((op, a)), best.get((op, b))
        return "-" if x is None or y is None else f"{x / y:.2f}x"

    print(f"PostgreSQL {version} on loopback, best of {rounds} interleaved rounds, µs/op")
    print()
    print("| op | raw asyncpg pool + json | PostgresStorage | ratio to raw |")
    print("| --- | ---: | ---: | ---: |")
    for op in ("get", "set", "update"):
        print(
            f"| {op} | {us(op, 'raw asyncpg pool')} | {us(op, 'store')} | "
            f"{ratio(op, 'store', 'raw asyncpg pool')} |"
        )
    print()
    print("Drivers, raw, one connection each:")
    print()
    print("| op | asyncpg | psycopg 3 (async) | psycopg / asyncpg |")
    print("| --- | ---: | ---: | ---: |")
    for op in ("get", "set", "update"):
        print(
            f"| {op} | {us(op, 'asyncpg')} | {us(op, 'psycopg')} | "
            f"{ratio(op, 'psycopg', 'asyncpg')} |"
        )
    if kv is not None:
        print()
        print("| op | PostgresStorage | py-key-value-aio PostgreSQLStore | theirs / ours |")
        print("| --- | ---: | ---: | ---: |")
        for op in ("get", "set"):
            print(
                f"| {op} | {us(op, 'store')} | {us(op, 'py-key-value-aio')} | "
                f"{ratio(op, 'py-key-value-aio', 'store')} |"
            )


def server_url(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("PUREGRAM_POSTGRES_URL"):
        return os.environ["PUREGRAM_POSTGRES_URL"]
    from tools.postgres_harness import HARNESS

    return HARNESS.server().url


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--postgres-url", help="a running server (default: start one)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer operations per round")
    args = parser.parse_args()
    url = server_url(args.postgres_url)
    try:
        asyncio.run(main(url, args.rounds, 0.1 if args.quick else 1.0))
    finally:
        if not args.postgres_url and not os.environ.get("PUREGRAM_POSTGRES_URL"):
            from tools.postgres_harness import HARNESS

            HARNESS.stop_all()
