from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from puregram.storage import (
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_lock_storage,
    is_ttl_storage,
)
from puregram.storage.testing import Check, conformance_checks
from puregram.storage_sqlite import SqliteStorage, connect

pytestmark = pytest.mark.anyio


SHORT_TTL_MS = 300


@pytest.mark.parametrize("ttl_ms", [None, 60_000], ids=["no-ttl", "ttl"])
@pytest.mark.parametrize("settings", ["connect", "plain"])
@pytest.mark.parametrize("check", conformance_checks(serializes=True), ids=str)
async def test_conforms(
    check: Check, settings: str, ttl_ms: int | None, driver: ModuleType, tmp_path: Path
) -> None:
    """Every check; the lease checks also against a twin: a second store on a second
    connection to the same file, as another process would have."""
    path = tmp_path / "kv.db"
    # "plain": driver.connect(path) as a user would write it (implicit transactions).
    db = connect(path, driver=driver) if settings == "connect" else driver.connect(str(path))
    other = connect(path, driver=driver)
    try:
        store: SqliteStorage[object] = SqliteStorage(db=db, ttl_ms=ttl_ms)
        await check(store, twin=SqliteStorage(db=other, ttl_ms=ttl_ms))
        assert not db.in_transaction
    finally:
        db.close()
        other.close()


@pytest.mark.parametrize("check", conformance_checks(serializes=True, ttl_ms=SHORT_TTL_MS), ids=str)
async def test_conforms_with_a_short_real_ttl(
    check: Check, driver: ModuleType, tmp_path: Path
) -> None:
    db = connect(tmp_path / "kv.db", driver=driver)
    try:
        await check(SqliteStorage(db=db, ttl_ms=SHORT_TTL_MS))
    finally:
        db.close()


def test_has_every_capability(tmp_path: Path) -> None:
    db = connect(tmp_path / "kv.db")
    store: SqliteStorage[object] = SqliteStorage(db=db)
    assert is_ttl_storage(store)
    assert is_iterable_storage(store)
    assert is_get_touch_storage(store)
    assert is_counter_storage(store)
    assert is_lock_storage(store)
    db.close()
