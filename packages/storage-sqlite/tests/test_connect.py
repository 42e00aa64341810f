"""connect() and SqliteStorage.open() settings; a caller's connection keeps its own."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
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
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"
    ).fetchall()
    assert indexes == [
        (
            "sessions:expires_at",
            'CREATE INDEX "sessions:expires_at" ON "sessions" (expires_at) '
            "WHERE expires_at IS NOT NULL",
        ),
        (
            "sessions:key_expires_at",
            'CREATE INDEX "sessions:key_expires_at" ON "sessions" (key, expires_at)',
        ),
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


CHILD = str(Path(__file__).with_name("_child.py"))


@pytest.mark.anyio
async def test_read_only_opens_with_mode_ro_and_changes_nothing(
    tmp_path: Path, driver: ModuleType
) -> None:
    path = tmp_path / "kv.db"
    writer = SqliteStorage.open(path, driver=driver)
    await writer.set("k", {"n": 1})
    await writer.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    store = SqliteStorage.open(path, driver=driver, read_only=True)
    assert await store.get("k") == {"n": 1}
    with pytest.raises(driver.OperationalError, match=r"read-only database \(key 'k'\)"):
        await store.set("k", 2)
    with pytest.raises(driver.OperationalError, match="read-only database"):
        await store.sweep()
    await store.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_read_only_does_not_create_a_missing_file(tmp_path: Path, driver: ModuleType) -> None:
    with pytest.raises(driver.OperationalError, match="unable to open"):
        connect(tmp_path / "missing.db", driver=driver, read_only=True)
    assert list(tmp_path.iterdir()) == []


def _can_mount() -> bool:
    if shutil.which("unshare") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs root and unshare -m for a read-only mount")
@pytest.mark.parametrize("writer", ["closed", "killed"])
def test_read_only_reads_a_wal_file_on_read_only_media(
    tmp_path: Path, driver: ModuleType, writer: str
) -> None:
    """A real read-only file system: the child runs in its own mount namespace
    (unshare -m) where the folder is bind-mounted read-only, so even root cannot create
    the -shm there. "closed": the writer closed cleanly and the -wal is gone (mode=ro
    alone cannot open it; immutable=1 can). "killed": the -wal and -shm were left by a
    writer that died, and hold the rows (mode=ro reads them)."""
    folder = tmp_path / "media"
    folder.mkdir()
    path = folder / "kv.db"
    if writer == "closed":
        db = connect(path, driver=driver)
        db.execute(
            "CREATE TABLE puregram_kv "
            "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)"
        )
        db.execute("""INSERT INTO puregram_kv VALUES ('a', '1', NULL), ('b', '{"n":2}', NULL)""")
        db.close()
    else:
        subprocess.run(
            [sys.executable, CHILD, "abandon", str(path), driver.__name__], check=True, timeout=60
        )
    assert (folder / "kv.db-wal").exists() == (writer == "killed")
    where = shlex.quote(str(folder))
    script = (
        f"mount --bind {where} {where} && mount -o remount,bind,ro {where} && "
        f"exec {shlex.quote(sys.executable)} {shlex.quote(CHILD)} read "
        f"{shlex.quote(str(path))} {driver.__name__}"
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["probe"] == errno.EROFS, "the folder was not read-only"
    assert seen["entries"] == {"a": 1, "b": {"n": 2}}
    assert "read-only database" in seen["refused"]
