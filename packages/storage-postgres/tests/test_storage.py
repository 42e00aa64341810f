"""PostgresStorage on a real server: options, schema, format, prefix ranges, sweeping."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from puregram.storage import CorruptValueError, ForeignValueError
from puregram.storage_postgres import PostgresStorage, SchemaError
from puregram.storage_postgres._schema import prefix_bounds

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class FakePool:
    """Construction runs no SQL: any object with the pool's methods will do."""

    async def fetchrow(self) -> None: ...
    async def fetchval(self) -> None: ...
    async def fetch(self) -> None: ...
    async def execute(self) -> None: ...
    def acquire(self) -> None: ...


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"ttl_ms": 0}, ValueError, "ttl_ms"),
        ({"ttl_ms": 1.5}, TypeError, "ttl_ms"),
        ({"ttl_ms": True}, TypeError, "ttl_ms"),
        ({"sweep_interval_ms": -1}, ValueError, "sweep_interval_ms"),
        ({"table": "a; DROP TABLE x"}, ValueError, "table"),
        ({"table": "1abc"}, ValueError, "table"),
        ({"table": "x" * 53}, ValueError, "at most 52"),
        ({"table": 5}, TypeError, "table"),
        ({"clock": 5}, TypeError, "clock"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        PostgresStorage(pool=FakePool(), **options)
    with pytest.raises(error, match=words):
        PostgresStorage.open("postgresql://nowhere.invalid/db", **options)


def test_a_pool_that_is_not_a_pool_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="asyncpg pool"):
        PostgresStorage(pool=object())


def test_open_checks_its_own_options_before_connecting() -> None:
    with pytest.raises(ValueError, match="min_size"):
        PostgresStorage.open("postgresql://nowhere.invalid/db", min_size=5, max_size=2)
    with pytest.raises(TypeError, match="dsn"):
        PostgresStorage.open(b"postgresql://x")  # type: ignore[arg-type]


async def test_bad_keys_raise_before_any_sql(pool: Any, table: str) -> None:
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table)
    with pytest.raises(ValueError, match="NUL"):
        await store.set("a\x00b", 1)
    with pytest.raises(TypeError):
        await store.get(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        await store.get("a\x00b")
    # A NUL inside a value is JSON-escaped, so it is fine.
    await store.set("k", "a\x00b")
    assert await store.get("k") == "a\x00b"


async def test_the_stored_rows_are_plain_json_text(pool: Any, table: str) -> None:
    clock = Clock()
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table, ttl_ms=1_000, clock=clock)
    await store.set("s", {"a": [1, "é"], "b": None})
    hits, reset_at = await store.count_hit("c", 60_000)
    await store.count_hit("c", 60_000)
    rows = {r["key"]: r for r in await pool.fetch(f'SELECT * FROM "{table}"')}
    assert rows["s"]["value"] == '{"a":[1,"é"],"b":null}'
    assert rows["s"]["expires_at"] == clock.now + 1_000
    assert rows["c"]["value"] == f'{{"hits":2,"resetAt":{reset_at}}}'
    assert rows["c"]["expires_at"] == reset_at == clock.now + 60_000
    assert hits == 1


async def test_the_boundary_a_row_is_live_while_expires_at_is_now(pool: Any, table: str) -> None:
    clock = Clock()
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table, ttl_ms=100, clock=clock)
    await store.set("k", 1)
    clock.now += 100
    assert await store.has("k")
    assert await store.get("k") == 1
    clock.now += 1
    assert not await store.has("k")
    assert await store.get("k") is None
    assert await pool.fetchval(f'SELECT count(*) FROM "{table}"') == 0  # get deleted it


async def test_count_hit_starts_a_new_window_once_reset_at_passed(pool: Any, table: str) -> None:
    clock = Clock()
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table, clock=clock)
    assert await store.count_hit("c", 1_000) == (1, clock.now + 1_000)
    clock.now += 999
    assert (await store.count_hit("c", 1_000))[0] == 2
    clock.now += 1
    assert await store.count_hit("c", 1_000) == (1, clock.now + 1_000)


async def test_count_hit_refuses_foreign_and_corrupt_rows_and_leaves_them(
    pool: Any, table: str
) -> None:
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table)
    await store.set("session", {"step": 1})
    with pytest.raises(ForeignValueError) as foreign:
        await store.count_hit("session", 1_000)
    assert foreign.value.key == "session"
    assert await store.get("session") == {"step": 1}
    await pool.execute(f"INSERT INTO \"{table}\" VALUES ('bad', 'not json', NULL)")
    with pytest.raises(CorruptValueError) as corrupt:
        await store.count_hit("bad", 1_000)
    assert corrupt.value.key == "bad"
    with pytest.raises(CorruptValueError):
        await store.get("bad")
    assert await pool.fetchval(f"SELECT value FROM \"{table}\" WHERE key = 'bad'") == "not json"
    # An expired foreign or corrupt row is replaced by a new window.
    await pool.execute(f"UPDATE \"{table}\" SET expires_at = 1 WHERE key = 'bad'")
    assert (await store.count_hit("bad", 1_000))[0] == 1


def test_prefix_bounds() -> None:
    assert prefix_bounds("") == ("", None)
    assert prefix_bounds("ab") == ("ab", "ac")
    assert prefix_bounds("a\U0010ffff") == ("a\U0010ffff", "b")
    assert prefix_bounds("\ud7ff") == ("\ud7ff", "\ue000")
    assert prefix_bounds("\U0010ffff") == ("\U0010ffff", None)


async def test_prefix_lists_one_range_in_code_point_order(pool: Any, table: str) -> None:
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table)
    names = ["a", "a:", "a:1", "a:2", "a:\U0010ffff", "a;", "b", "A:1", "a:é", "a:Z"]
    for name in names:
        await store.set(name, name)
    assert [k async for k in store.keys(prefix="a:")] == [
        "a:",
        "a:1",
        "a:2",
        "a:Z",
        "a:é",
        "a:\U0010ffff",
    ]
    assert [v async for v in store.values(prefix="a:2")] == ["a:2"]
    assert [k async for k in store.keys()] == sorted(names)
    assert [e async for e in store.entries(prefix="zz")] == []
    with pytest.raises(TypeError, match="prefix"):
        [k async for k in store.keys(prefix=1)]  # type: ignore[arg-type]


async def test_iteration_pages_through_more_rows_than_a_page(pool: Any, table: str) -> None:
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table)
    await store.set("x", 0)
    await pool.execute(
        f"INSERT INTO \"{table}\" SELECT 'p:' || lpad(n::text, 5, '0'), n::text, NULL "
        "FROM generate_series(1, 1234) n"
    )
    keys = [k async for k in store.keys(prefix="p:")]
    assert keys == [f"p:{n:05d}" for n in range(1, 1235)]
    assert sum([v async for v in store.values(prefix="p:")]) == 1234 * 1235 // 2


async def test_sweep_deletes_expired_rows_in_batches_and_keeps_live_ones(
    pool: Any, table: str
) -> None:
    clock = Clock()
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table, clock=clock)
    await store.set("forever", 1)
    await pool.execute(
        f"INSERT INTO \"{table}\" SELECT 'e' || n, '1', $1::bigint FROM generate_series(1, 2500) n",
        clock.now - 1,
    )
    await pool.execute(f"INSERT INTO \"{table}\" VALUES ('live', '2', $1::bigint)", clock.now)
    assert await store.sweep() == 2500
    assert {k async for k in store.keys()} == {"forever", "live"}
    assert await store.sweep() == 0


async def test_the_background_sweeper_runs_and_stops_on_close(pool: Any, table: str) -> None:
    clock = Clock()
    store: PostgresStorage[Any] = PostgresStorage(
        pool=pool, table=table, ttl_ms=10, sweep_interval_ms=20, clock=clock
    )
    await store.set("k", 1)
    clock.now += 11
    for _ in range(250):  # up to 5 s, polling the real table
        if await pool.fetchval(f'SELECT count(*) FROM "{table}"') == 0:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the sweeper did not delete the expired row")
    await store.close()
    await store.close()  # twice is fine
    await store.set("j", 1)  # the pool is the caller's: still usable
    clock.now += 11
    await asyncio.sleep(0.1)
    assert await pool.fetchval(f'SELECT count(*) FROM "{table}"') == 1  # no sweeper now


async def test_open_owns_its_pool(postgres_url: str, table: str) -> None:
    store = await PostgresStorage.open(postgres_url, table=table)
    await store.set("k", 1)
    await store.aclose()
    with pytest.raises(asyncpg.InterfaceError, match="closed"):
        await store.get("k")
    async with PostgresStorage.open(postgres_url, table=table) as again:
        assert await again.get("k") == 1


async def test_stores_starting_together_create_the_table_once(
    postgres_url: str, table: str
) -> None:
    opened = await asyncio.gather(
        *(PostgresStorage.open(postgres_url, table=table) for _ in range(4))
    )
    try:
        await asyncio.gather(*(store.set(f"k{n}", n) for n, store in enumerate(opened)))
        assert sorted([k async for k in opened[0].keys()]) == ["k0", "k1", "k2", "k3"]
    finally:
        for store in opened:
            await store.close()


@pytest.mark.parametrize(
    ("ddl", "words"),
    [
        ("(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at BIGINT)", "COLLATE"),
        ("(key INT PRIMARY KEY, value TEXT NOT NULL, expires_at BIGINT)", "'key' is 'integer'"),
        ('(key TEXT COLLATE "C", value TEXT NOT NULL, expires_at BIGINT)', "primary key"),
        ('(key TEXT COLLATE "C" PRIMARY KEY, value TEXT, expires_at BIGINT)', "NOT NULL"),
        ('(key TEXT COLLATE "C" PRIMARY KEY, value JSONB NOT NULL, expires_at BIGINT)', "jsonb"),
        ('(key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL, expires_at INT)', "bigint"),
        ('(key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)', "expires_at"),
        (
            '(key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL, expires_at BIGINT, '
            "owner TEXT NOT NULL)",
            "owner",
        ),
    ],
)
async def test_a_table_of_another_schema_is_refused_unchanged(
    pool: Any, table: str, ddl: str, words: str
) -> None:
    await pool.execute(f'CREATE TABLE "{table}" {ddl}')
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table)
    with pytest.raises(SchemaError, match=words) as caught:
        await store.set("k", 1)
    assert caught.value.table == table
    assert await pool.fetchval(f'SELECT count(*) FROM "{table}"') == 0


async def test_a_view_is_not_a_table(pool: Any, table: str) -> None:
    await pool.execute(f'CREATE VIEW "{table}" AS SELECT 1 AS key')
    with pytest.raises(SchemaError, match="not a table"):
        await PostgresStorage(pool=pool, table=table).get("k")


async def test_a_table_made_by_hand_with_the_schema_is_used(pool: Any, table: str) -> None:
    await pool.execute(
        f'CREATE TABLE "{table}" (key VARCHAR COLLATE "C" PRIMARY KEY, '
        "value TEXT NOT NULL, expires_at BIGINT, note TEXT NOT NULL DEFAULT '')"
    )
    store: PostgresStorage[Any] = PostgresStorage(pool=pool, table=table)
    await store.set("k", [1])
    assert json.loads(await pool.fetchval(f'SELECT value FROM "{table}"')) == [1]


async def test_repr_names_the_table(pool: Any) -> None:
    assert repr(PostgresStorage(pool=pool, table="abc", ttl_ms=5)) == (
        "PostgresStorage(table='abc', ttl_ms=5)"
    )
