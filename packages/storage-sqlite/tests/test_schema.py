"""The table check at construction, the expiry index's name, and files made by older
versions and by the TypeScript package."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from puregram.storage import StorageError
from puregram.storage_sqlite import SchemaError, SqliteStorage, connect

pytestmark = pytest.mark.anyio

# What @puregram/storage-sqlite (TypeScript) and this package's 0.1 create.
TS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)"
)
# The index of this package's 0.1, exactly as it created it.
OLD_INDEX = (
    'CREATE INDEX IF NOT EXISTS "{t}_expires_at" ON "{t}" (expires_at) WHERE expires_at IS NOT NULL'
)


def objects(db: Any) -> list[tuple[str, str, str]]:
    return sorted(db.execute("SELECT type, name, tbl_name FROM sqlite_master").fetchall())


async def test_tables_a_and_a_expires_at_share_a_file(tmp_path: Path, driver: ModuleType) -> None:
    """Up to 0.1 table "a" had the index "a_expires_at", so table "a_expires_at" could
    not be created in the same file."""
    db = connect(tmp_path / "kv.db", driver=driver)
    first: SqliteStorage[int] = SqliteStorage(db=db, table="a")
    second: SqliteStorage[int] = SqliteStorage(db=db, table="a_expires_at")
    third: SqliteStorage[int] = SqliteStorage(db=db, table="a_expires_at_expires_at")
    await first.set("k", 1)
    await second.set("k", 2)
    await third.set("k", 3)
    assert (await first.get("k"), await second.get("k"), await third.get("k")) == (1, 2, 3)
    db.close()


def test_the_expiry_index_is_named_outside_every_valid_table_name(tmp_path: Path) -> None:
    db = connect(tmp_path / "kv.db")
    SqliteStorage(db=db, table="a")
    sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"
    assert db.execute(sql).fetchall() == [("a:expires_at",), ("a:key_expires_at",)]
    with pytest.raises(ValueError, match="table must match"):
        SqliteStorage(db=db, table="a:expires_at")
    db.close()


async def test_a_file_from_version_0_1_moves_to_the_new_index(
    tmp_path: Path, driver: ModuleType
) -> None:
    """A file made by 0.1's statements: the store keeps its rows, drops the old index
    (it is exactly 0.1's), makes the new one and the covering index, and the name
    "a_expires_at" is free."""
    path = tmp_path / "old.db"
    old = driver.connect(str(path), isolation_level=None)
    old.execute(TS_TABLE.format(t='"a"'))
    old.execute(OLD_INDEX.format(t="a"))
    old.execute("""INSERT INTO a VALUES ('k', '{"n":1}', NULL), ('e', '2', 5)""")
    old.close()
    db = connect(path, driver=driver)
    store: SqliteStorage[Any] = SqliteStorage(db=db, table="a", clock=lambda: 10)
    assert objects(db) == [
        ("index", "a:expires_at", "a"),
        ("index", "a:key_expires_at", "a"),
        ("index", "sqlite_autoindex_a_1", "a"),
        ("table", "a", "a"),
    ]
    assert await store.get("k") == {"n": 1}
    plan = db.execute("EXPLAIN QUERY PLAN DELETE FROM a WHERE expires_at < 10").fetchall()
    assert any("a:expires_at" in str(step) for step in plan), plan
    assert await store.sweep() == 1
    other: SqliteStorage[int] = SqliteStorage(db=db, table="a_expires_at")
    await other.set("k", 1)
    SqliteStorage(db=db, table="a")  # a second construction changes nothing
    assert len(objects(db)) == 8  # two tables, each with its key, expiry and covering index
    db.close()


def test_an_index_of_yours_with_the_old_name_is_left_alone(tmp_path: Path) -> None:
    db = connect(tmp_path / "kv.db")
    db.execute(TS_TABLE.format(t="a"))
    db.execute('CREATE INDEX "a_expires_at" ON a (value)')
    SqliteStorage(db=db, table="a")
    names = {row[1] for row in objects(db)}
    assert {"a_expires_at", "a:expires_at"} <= names
    db.close()


async def test_a_read_only_file_from_version_0_1_is_read_as_it_is(
    tmp_path: Path, driver: ModuleType
) -> None:
    path = tmp_path / "old.db"
    old = driver.connect(str(path), isolation_level=None)
    old.execute(TS_TABLE.format(t="puregram_kv"))
    old.execute(OLD_INDEX.format(t="puregram_kv"))
    old.execute("INSERT INTO puregram_kv VALUES ('k', '1', NULL)")
    old.close()
    db = driver.connect(f"file:{path}?mode=ro", uri=True)
    store: SqliteStorage[int] = SqliteStorage(db=db)  # no index can be made: reads work
    assert await store.get("k") == 1
    assert ("index", "puregram_kv_expires_at", "puregram_kv") in objects(db)
    db.close()


GOOD_TABLES = {
    "typescript": TS_TABLE.format(t="kv"),
    "without-rowid": (
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER) "
        "WITHOUT ROWID"
    ),
    "strict": (
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER) STRICT"
    ),
    "other-spellings": (
        "CREATE TABLE kv (KEY VARCHAR(64) PRIMARY KEY, Value CLOB NOT NULL, EXPIRES_AT BIGINT)"
    ),
    "extra-columns": (
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER, "
        "note TEXT, created INTEGER NOT NULL DEFAULT 0)"
    ),
}


@pytest.mark.parametrize("create", list(GOOD_TABLES.values()), ids=list(GOOD_TABLES))
async def test_a_table_of_the_same_schema_is_used_as_it_is(
    create: str, tmp_path: Path, driver: ModuleType
) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    if "STRICT" in create and driver.sqlite_version_info < (3, 37, 0):
        pytest.skip("STRICT tables need SQLite 3.37")
    db.execute(create)
    store: SqliteStorage[Any] = SqliteStorage(db=db, table="kv", ttl_ms=1_000)
    await store.set("1", "one")
    await store.set("1.0", {"n": 1})
    assert [(k, v) async for k, v in store.entries()] == [("1", "one"), ("1.0", {"n": 1})]
    assert await store.count_hit("hits", 1_000) == (1, (await store.count_hit("hits", 1))[1])
    db.close()


BAD_TABLES = {
    "no-primary-key": (
        "(key TEXT, value TEXT NOT NULL, expires_at INTEGER)",
        "column 'key' is not its primary key",
    ),
    "unique-not-primary": (
        "(key TEXT UNIQUE, value TEXT NOT NULL, expires_at INTEGER)",
        "column 'key' is not its primary key",
    ),
    "composite-key": (
        "(key TEXT, value TEXT NOT NULL, expires_at INTEGER, PRIMARY KEY (key, expires_at))",
        "column 'key' is not its primary key on its own",
    ),
    "integer-key": (
        "(key INTEGER PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)",
        "column 'key' is 'INTEGER'",
    ),
    "numeric-key": (
        "(key NUMERIC PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)",
        "column 'key' is 'NUMERIC'",
    ),
    "nocase-key": (
        "(key TEXT PRIMARY KEY COLLATE NOCASE, value TEXT NOT NULL, expires_at INTEGER)",
        "COLLATE NOCASE",
    ),
    "nullable-value": (
        "(key TEXT PRIMARY KEY, value TEXT, expires_at INTEGER)",
        "column 'value' is not NOT NULL",
    ),
    "numeric-value": (
        "(key TEXT PRIMARY KEY, value NUMERIC NOT NULL, expires_at INTEGER)",
        "column 'value' is 'NUMERIC'",
    ),
    "text-expiry": (
        "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at TEXT)",
        "column 'expires_at' is 'TEXT'",
    ),
    "no-expiry": ("(key TEXT PRIMARY KEY, value TEXT NOT NULL)", "no column 'expires_at'"),
    "no-value": ("(key TEXT PRIMARY KEY, expires_at INTEGER)", "no column 'value'"),
    "required-extra": (
        "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER, owner TEXT NOT NULL)",
        "column 'owner' is NOT NULL without a default",
    ),
}


@pytest.mark.parametrize(("columns", "match"), list(BAD_TABLES.values()), ids=list(BAD_TABLES))
def test_a_table_of_another_schema_is_refused_naming_table_and_column(
    columns: str, match: str, tmp_path: Path, driver: ModuleType
) -> None:
    db = driver.connect(str(tmp_path / "kv.db"), isolation_level=None)
    db.execute(f"CREATE TABLE kv {columns}")
    before = objects(db)
    with pytest.raises(SchemaError, match=match) as caught:
        SqliteStorage(db=db, table="kv")
    assert "table 'kv'" in str(caught.value)
    assert caught.value.table == "kv"
    assert isinstance(caught.value, (StorageError, ValueError))
    assert objects(db) == before, "nothing was created"
    db.close()


def test_a_view_of_that_name_is_refused(tmp_path: Path) -> None:
    db = connect(tmp_path / "kv.db")
    db.execute("CREATE VIEW kv AS SELECT 1 AS key, 2 AS value, 3 AS expires_at")
    with pytest.raises(SchemaError, match=r"table 'kv' .*it is a view"):
        SqliteStorage(db=db, table="kv")
    db.close()


def test_the_table_name_matches_whatever_its_case(tmp_path: Path) -> None:
    """SQLite names ignore ASCII case: "KV" is the table "kv", and is checked as such."""
    db = connect(tmp_path / "kv.db")
    db.execute("CREATE TABLE kv (key TEXT, value TEXT, expires_at INTEGER)")
    with pytest.raises(SchemaError, match="table 'KV'"):
        SqliteStorage(db=db, table="KV")
    db.close()


# -- the covering index (key, expires_at) ----------------------------------------------

COVERING = ("index", "puregram_kv:key_expires_at", "puregram_kv")


def plan_of(db: Any, statements: list[str], starts: str) -> str:
    """The query plan of the first recorded statement that starts with ``starts``."""
    sql = next(sql for sql in statements if sql.lstrip().upper().startswith(starts))
    return " / ".join(str(step[3]) for step in db.execute(f"EXPLAIN QUERY PLAN {sql}"))


async def test_has_and_keys_read_only_the_covering_index(
    tmp_path: Path, driver: ModuleType
) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    store: SqliteStorage[Any] = SqliteStorage(db=db, ttl_ms=60_000)
    await store.set("k", "x" * 100_000)
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    assert await store.has("k")
    assert [key async for key in store.keys()] == ["k"]
    db.set_trace_callback(None)
    assert "COVERING INDEX puregram_kv:key_expires_at" in plan_of(db, statements, "SELECT 1")
    assert "COVERING INDEX puregram_kv:key_expires_at" in plan_of(db, statements, "SELECT KEY")
    db.close()


@pytest.mark.parametrize("old", ["typescript", "version-0.1", "version-0.2"])
async def test_an_older_file_gets_the_covering_index_once(
    tmp_path: Path, driver: ModuleType, old: str
) -> None:
    """Files as the TypeScript package (table only), 0.1 (its index) and 0.2 (the
    expiry index, no covering one) made them: the store adds the covering index, keeps
    every row, and a second store changes nothing."""
    path = tmp_path / "old.db"
    made = driver.connect(str(path), isolation_level=None)
    made.execute(TS_TABLE.format(t="puregram_kv"))
    if old == "version-0.1":
        made.execute(OLD_INDEX.format(t="puregram_kv"))
    if old == "version-0.2":
        made.execute(
            'CREATE INDEX IF NOT EXISTS "puregram_kv:expires_at" ON "puregram_kv" '
            "(expires_at) WHERE expires_at IS NOT NULL"
        )
    made.execute("""INSERT INTO puregram_kv VALUES ('k', '{"n":1}', NULL), ('e', '2', 5)""")
    made.close()
    db = connect(path, driver=driver)
    store: SqliteStorage[Any] = SqliteStorage(db=db, clock=lambda: 10)
    assert COVERING in objects(db)
    assert await store.get("k") == {"n": 1}
    assert await store.has("k")
    assert not await store.has("e")
    assert [key async for key in store.keys()] == ["k"]
    before = objects(db)
    changes = db.total_changes
    SqliteStorage(db=db)
    assert objects(db) == before
    assert db.total_changes == changes  # nothing written the second time
    db.close()


async def test_a_read_only_open_of_an_older_file_writes_nothing(
    tmp_path: Path, driver: ModuleType
) -> None:
    path = tmp_path / "old.db"
    made = driver.connect(str(path), isolation_level=None)
    made.execute("PRAGMA journal_mode = WAL")
    made.execute(TS_TABLE.format(t="puregram_kv"))
    made.execute(OLD_INDEX.format(t="puregram_kv"))
    made.executemany(
        "INSERT INTO puregram_kv VALUES (?, ?, NULL)", [(f"ns:{i}", str(i)) for i in range(30)]
    )
    made.execute("INSERT INTO puregram_kv VALUES ('other', '1', NULL)")
    made.close()  # the last connection: the WAL is checkpointed and removed
    content = path.read_bytes()
    store: SqliteStorage[Any] = SqliteStorage.open(path, read_only=True)
    assert COVERING not in objects(store._db)
    assert await store.has("ns:1")
    assert await store.get("ns:2") == 2
    assert len([key async for key in store.keys(prefix="ns:")]) == 30
    assert len([entry async for entry in store.entries()]) == 31
    await store.close()
    assert path.read_bytes() == content


async def test_an_index_dropped_under_the_store_is_done_without(
    tmp_path: Path, driver: ModuleType
) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    store: SqliteStorage[int] = SqliteStorage(db=db)
    await store.set("k", 1)
    db.execute('DROP INDEX "puregram_kv:key_expires_at"')
    assert await store.has("k")
    assert not await store.has("missing")
    assert [key async for key in store.keys()] == ["k"]
    db.close()


async def test_an_object_of_yours_with_the_covering_name_is_not_relied_on(
    tmp_path: Path,
) -> None:
    db = connect(tmp_path / "kv.db")
    db.execute(TS_TABLE.format(t="puregram_kv"))
    db.execute('CREATE INDEX "puregram_kv:key_expires_at" ON puregram_kv (value)')
    store: SqliteStorage[int] = SqliteStorage(db=db)
    await store.set("k", 1)
    assert await store.has("k")
    db.close()
