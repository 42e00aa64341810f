"""Bad options, bad table names, read-only databases and corrupt rows."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

from puregram.storage import CorruptValueError
from puregram.storage_sqlite import SqliteStorage, connect

pytestmark = pytest.mark.anyio

T = TypeVar("T")


async def collect(items: AsyncIterator[T]) -> list[T]:
    """Everything an async iterator yields, as a list."""
    return [item async for item in items]


BAD_TABLES = [
    "",
    "1table",
    "two words",
    "kv; DROP TABLE users; --",
    'kv" (x); DROP TABLE users; --',
    "kv'",
    "main.kv",
    "kv\n",
    "таблица",
    "kv-1",
]


@pytest.mark.parametrize("table", BAD_TABLES)
def test_a_bad_table_name_raises_and_runs_no_sql(
    table: str, tmp_path: Path, driver: ModuleType
) -> None:
    db = driver.connect(str(tmp_path / "kv.db"))
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    with pytest.raises(ValueError, match="table must match") as caught:
        SqliteStorage(db=db, table=table)
    assert repr(table) in str(caught.value)
    assert statements == []
    db.close()


def test_a_bad_table_name_creates_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="table"):
        SqliteStorage.open(tmp_path / "kv.db", table="x;y")
    assert not (tmp_path / "kv.db").exists()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"table": 5}, TypeError, "table must be a str"),
        ({"ttl_ms": 0}, ValueError, "ttl_ms"),
        ({"ttl_ms": -1}, ValueError, "ttl_ms"),
        ({"ttl_ms": 1.5}, TypeError, "ttl_ms"),
        ({"ttl_ms": True}, TypeError, "ttl_ms"),
        ({"ttl_ms": 10**20}, ValueError, "'ttl_ms' must be from 1 to"),
        ({"ttl_ms": float("inf")}, TypeError, "ttl_ms"),
        ({"sweep_interval_ms": 0}, ValueError, "sweep_interval_ms"),
        ({"sweep_interval_ms": 10**16}, ValueError, "sweep_interval_ms"),
        ({"sweep_interval_ms": 1.5}, TypeError, "sweep_interval_ms"),
        ({"sweep_interval_ms": float("nan")}, TypeError, "sweep_interval_ms"),
        ({"sweep_interval_ms": True}, TypeError, "sweep_interval_ms"),
        ({"sweep_interval_ms": "10"}, TypeError, "sweep_interval_ms"),
        ({"clock": 5}, TypeError, "clock"),
    ],
)
def test_a_bad_option_raises_naming_it_and_runs_no_sql(
    options: dict[str, Any], error: type[Exception], match: str, tmp_path: Path
) -> None:
    db = connect(tmp_path / "kv.db")
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    with pytest.raises(error, match=match):
        SqliteStorage(db=db, **options)
    assert statements == []
    db.close()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"ttl_ms": 10**20}, ValueError),
        ({"sweep_interval_ms": 2.5}, TypeError),
        ({"busy_timeout_ms": 2**31}, ValueError),
        ({"busy_timeout_ms": 1.5}, TypeError),
        ({"clock": "now"}, TypeError),
    ],
)
def test_open_checks_every_option_before_it_creates_the_file(
    options: dict[str, Any], error: type[Exception], tmp_path: Path
) -> None:
    with pytest.raises(error, match=next(iter(options))):
        SqliteStorage.open(tmp_path / "kv.db", **options)
    assert not (tmp_path / "kv.db").exists()


def test_whole_float_milliseconds_are_accepted_as_ints(tmp_path: Path) -> None:
    """check_ms: 1000.0 is whole milliseconds, and is stored as the int 1000."""
    db = connect(tmp_path / "kv.db")
    store: SqliteStorage[int] = SqliteStorage(db=db, ttl_ms=1000.0)  # type: ignore[arg-type]
    assert repr(store) == "SqliteStorage(table='puregram_kv', ttl_ms=1000)"
    db.close()


@pytest.mark.parametrize(
    ("window_ms", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (10**20, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        ("10", TypeError),
        (None, TypeError),
    ],
)
async def test_count_hit_checks_window_ms_like_every_option(
    window_ms: Any, error: type[Exception], tmp_path: Path
) -> None:
    db = connect(tmp_path / "kv.db")
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    with pytest.raises(error, match="window_ms"):
        await store.count_hit("k", window_ms)
    assert statements == []
    db.close()


def test_db_must_be_a_connection() -> None:
    with pytest.raises(TypeError, match="db must be a sqlite3 or pysqlite3 connection"):
        SqliteStorage(db="kv.db")  # type: ignore[arg-type]


def test_table_names_are_quoted_identifiers(tmp_path: Path) -> None:
    """A valid name that is an SQL keyword still works: it is always quoted."""
    db = connect(tmp_path / "kv.db")
    SqliteStorage(db=db, table="select")
    tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [("select",)]
    db.close()


def _read_only(driver: ModuleType, path: Path) -> Any:
    return driver.connect(f"file:{path}?mode=ro", uri=True)


async def test_read_only_database_writes_fail_clearly(tmp_path: Path, driver: ModuleType) -> None:
    path = tmp_path / "kv.db"
    writer: SqliteStorage[int] = SqliteStorage.open(path, driver=driver)
    await writer.set("k", 1)
    await writer.close()
    db = _read_only(driver, path)
    store: SqliteStorage[int] = SqliteStorage(db=db)  # the table exists: reading works
    assert await store.get("k") == 1
    assert await collect(store.keys()) == ["k"]
    with pytest.raises(driver.OperationalError, match=r"read-only database \(key 'k'\)"):
        await store.set("k", 2)
    with pytest.raises(driver.OperationalError, match="read-only database"):
        await store.sweep()
    assert not db.in_transaction
    assert await store.get("k") == 1
    db.close()


def test_read_only_database_without_the_table_fails_at_construction(
    tmp_path: Path, driver: ModuleType
) -> None:
    path = tmp_path / "kv.db"
    driver.connect(str(path)).close()
    db = _read_only(driver, path)
    with pytest.raises(driver.OperationalError, match="cannot write to a read-only database"):
        SqliteStorage(db=db)
    db.close()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="file permissions do not stop root; the mode=ro tests cover read-only there",
)
async def test_read_only_file_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    writer: SqliteStorage[int] = SqliteStorage.open(path)
    await writer.set("k", 1)
    await writer.close()
    path.chmod(stat.S_IRUSR)
    db = connect(path)
    store: SqliteStorage[int] = SqliteStorage(db=db)
    with pytest.raises(Exception, match="read-only database"):
        await store.set("k", 2)
    db.close()


async def test_a_corrupt_row_raises_naming_the_key(tmp_path: Path, driver: ModuleType) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    store: SqliteStorage[Any] = SqliteStorage(db=db, ttl_ms=60_000)
    await store.set("good", 1)
    db.execute("INSERT INTO puregram_kv VALUES ('bad', '{not json', NULL)")
    with pytest.raises(CorruptValueError, match="'bad'") as caught:
        await store.get("bad")
    assert caught.value.key == "bad"
    with pytest.raises(CorruptValueError, match="'bad'"):
        await store.get_and_touch("bad")
    with pytest.raises(CorruptValueError, match="'bad'"):
        await collect(store.entries())
    with pytest.raises(CorruptValueError, match="'bad'"):
        await collect(store.values())
    with pytest.raises(CorruptValueError, match="'bad'"):
        await store.count_hit("bad", 1_000)
    assert not db.in_transaction
    # Nothing was changed, and the keys can still be listed and the row replaced.
    assert db.execute("SELECT value FROM puregram_kv WHERE key = 'bad'").fetchone() == (
        "{not json",
    )
    assert await collect(store.keys()) == ["bad", "good"]
    assert await store.has("bad")
    await store.set("bad", "fixed")
    assert await store.get("bad") == "fixed"
    db.close()


@pytest.mark.parametrize("expires_at", ["'tomorrow'", "x'00ff'"], ids=["text", "blob"])
async def test_an_expires_at_that_is_not_a_time_raises_naming_the_key_and_column(
    expires_at: str, tmp_path: Path, driver: ModuleType
) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    db.execute(f"INSERT INTO puregram_kv VALUES ('bad', '1', {expires_at})")
    with pytest.raises(CorruptValueError, match=r"'bad'.*column expires_at holds") as caught:
        await store.get("bad")
    assert caught.value.key == "bad"
    with pytest.raises(CorruptValueError, match="column expires_at"):
        await store.get_and_touch("bad")  # without ttl_ms: exactly get
    assert db.execute("SELECT count(*) FROM puregram_kv").fetchone() == (1,), "left as it was"
    db.close()
