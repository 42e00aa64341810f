from __future__ import annotations

from typing import Any

import pytest

from puregram.storage import (
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_lock_storage,
    is_ttl_storage,
)
from puregram.storage.testing import Check, conformance_checks
from puregram.storage_postgres import PostgresStorage

pytestmark = pytest.mark.anyio

SHORT_TTL_MS = 300


@pytest.mark.parametrize("ttl_ms", [None, 60_000], ids=["no-ttl", "ttl"])
@pytest.mark.parametrize("check", conformance_checks(serializes=True), ids=str)
async def test_conforms(
    check: Check, ttl_ms: int | None, pool: Any, postgres_url: str, table: str
) -> None:
    """Every check; the lease checks also against a twin: a second store with a pool of
    its own on the same table, as another process would have."""
    store: PostgresStorage[object] = PostgresStorage(pool=pool, table=table, ttl_ms=ttl_ms)
    async with PostgresStorage.open(postgres_url, table=table, ttl_ms=ttl_ms) as twin:
        await check(store, twin=twin)


@pytest.mark.parametrize("check", conformance_checks(serializes=True, ttl_ms=SHORT_TTL_MS), ids=str)
async def test_conforms_with_a_short_real_ttl(check: Check, pool: Any, table: str) -> None:
    await check(PostgresStorage(pool=pool, table=table, ttl_ms=SHORT_TTL_MS))


def test_has_every_capability() -> None:
    class Pool:  # construction runs no SQL: any object with the pool's methods will do
        async def fetchrow(self) -> None: ...
        async def fetchval(self) -> None: ...
        async def fetch(self) -> None: ...
        async def execute(self) -> None: ...
        def acquire(self) -> None: ...

    store: PostgresStorage[object] = PostgresStorage(pool=Pool())
    assert is_ttl_storage(store)
    assert is_iterable_storage(store)
    assert is_get_touch_storage(store)
    assert is_counter_storage(store)
    assert is_lock_storage(store)
