"""connect() and SqliteStorage.open() settings; a caller's connection keeps its own."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from puregram.storage_sqlite import SqliteStorage, connect


def test_connect_opens_with_the_documented_settings(tmp_path: Path, driver: ModuleType) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    assert isinstance(db, driver.Connection)
    assert db.isolation_level is None
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert db.execute("PRAGMA busy_timeout").fetchone() == (5_000,)
    db.close()
    db = connect(tmp_path / "kv.db", busy_timeout_ms=250, driver=driver)
    assert db.execute("PRAGMA busy_timeout").fetchone() == (250,)
    db.close()


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (2**31, ValueError), (1.5, TypeError), (True, TypeError), ("5", TypeError)],
)
def test_connect_rejects_a_bad_busy_timeout(
    value: object, error: type[Exception], tmp_path: Path
) -> None:
    with pytest.raises(error, match="busy_timeout_ms"):
        connect(tmp_path / "kv.db", busy_timeout_ms=value)  # type: ignore[arg-type]
    assert not (tmp_path / "kv.db").exists()


def test_a_callers_connection_keeps_its_pragmas(tmp_path: Path, driver: ModuleType) -> None:
    db = driver.connect(str(tmp_path / "kv.db"), isolation_level="DEFERRED")
    db.execute("PRAGMA journal_mode = DELETE")
    db.execute("PRAGMA synchronous = FULL")
    SqliteStorage(db=db)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert db.execute("PRAGMA synchronous").fetchone() == (2,)
    assert db.isolation_level == "DEFERRED"
    db.close()


def test_the_schema_is_exactly_as_documented(tmp_path: Path) -> None:
    db = connect(tmp_path / "kv.db")
    SqliteStorage(db=db, table="sessions")
    columns = db.execute("PRAGMA table_info(sessions)").fetchall()
    assert [(c[1], c[2], c[3], c[5]) for c in columns] == [
        ("key", "TEXT", 0, 1),
        ("value", "TEXT", 1, 0),
        ("expires_at", "INTEGER", 0, 0),
    ]
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    assert indexes == [
        (
            "sessions:expires_at",
            'CREATE INDEX "sessions:expires_at" ON "sessions" (expires_at) '
            "WHERE expires_at IS NOT NULL",
        )
    ]
    SqliteStorage(db=db, table="sessions")  # a second store on the table changes nothing
    db.close()


def test_an_old_sqlite_is_refused_clearly(tmp_path: Path) -> None:
    """A fake connection reports SQLite 3.34: a real old library cannot be loaded on
    demand beside the one Python links."""

    class OldSqlite:
        """A connection that is its own cursor, as DB-API shapes them."""

        in_transaction = False
        rowcount = -1  # DB-API: -1 for a SELECT

        def execute(self, sql: str, parameters: object = ()) -> object:
            assert sql == "SELECT sqlite_version()"
            return self

        def fetchall(self) -> list[tuple[str]]:
            return [("3.34.1",)]

        def commit(self) -> None: ...

        def rollback(self) -> None: ...

        def close(self) -> None: ...

    with pytest.raises(RuntimeError, match=r"SQLite 3\.35 or newer.*3\.34\.1"):
        SqliteStorage(db=OldSqlite())
