"""Session over every store, read back raw from the backend.

Each test runs on: MemoryStorage, LruMemoryStorage, SqliteStorage on a file, RedisStorage
on one server and on a 3-primary cluster, PostgresStorage on a table, and
enhance_storage layered on SQLite, Redis, PostgreSQL and LruMemoryStorage. Local stores
run on asyncio and trio; Redis and PostgreSQL ones on asyncio (redis-py, asyncpg).
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest
from _integration import (
    ENHANCED_TTL_MS,
    LOCAL_KINDS,
    NOW,
    POSTGRES_KINDS,
    REDIS_KINDS,
    FakeClock,
    OpenStore,
    run_counting_update,
    run_update,
)

from puregram.session import session, ttl

pytestmark = pytest.mark.anyio

CASES = [
    pytest.param(backend, kind, id=f"{kind}-{backend}")
    for kind in LOCAL_KINDS
    for backend in ("asyncio", "trio")
] + [pytest.param("asyncio", kind, id=f"{kind}-asyncio") for kind in REDIS_KINDS + POSTGRES_KINDS]

USERS = 6
UPDATES = 15


@pytest.mark.parametrize(("anyio_backend", "kind"), CASES)
async def test_counters_survive_many_overlapping_updates(
    anyio_backend: str, kind: str, store_opener: OpenStore
) -> None:
    """6 users x 15 updates, shuffled and 8 in flight at once, so one user's updates
    overlap: every counter ends at 15, stored as a plain JSON object."""
    clock = FakeClock()
    async with store_opener(kind, clock=clock) as case:
        middleware = session(storage=case.storage, clock=clock)
        updates = [user for user in range(1, USERS + 1) for _ in range(UPDATES)]
        random.Random(1).shuffle(updates)
        pending = iter(updates)

        async def worker() -> None:
            for user in pending:
                await run_counting_update(middleware, user)

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(worker)

        assert await case.raw_keys() == {str(user) for user in range(1, USERS + 1)}
        for user in range(1, USERS + 1):
            assert await case.raw_session(str(user)) == {"counter": UPDATES}
        if case.enhanced:
            assert await case.raw_get("1") == {
                "__v": 0,
                "data": {"counter": UPDATES},
                "__exp": NOW + ENHANCED_TTL_MS,
            }

        # A new middleware on the same store (a restarted bot) carries on.
        again = session(storage=case.storage, clock=clock)
        assert await run_counting_update(again, 3) == UPDATES + 1


@pytest.mark.parametrize(("anyio_backend", "kind"), CASES)
async def test_a_ttl_field_expires_and_its_metadata_goes_with_it(
    anyio_backend: str, kind: str, store_opener: OpenStore
) -> None:
    """``ttl(value, 5_000)`` on the session's clock: the record carries ``__ttl`` while
    the key lives (through exactly 5 s, as in TypeScript: expired once ``now - at > t``);
    one millisecond later it reads as missing, and the next save drops key and metadata."""
    clock = FakeClock()
    async with store_opener(kind, clock=clock) as case:
        middleware = session(storage=case.storage, clock=clock)

        def remember(context: Any) -> None:
            context.session.counter = 1
            context.session.code = ttl("1234", 5_000)

        await run_update(middleware, 7, remember)
        assert await case.raw_session("7") == {
            "counter": 1,
            "code": "1234",
            "__ttl": {"code": {"t": 5_000, "at": NOW}},
        }

        def read_code(context: Any) -> Any:
            return context.session.get("code")

        clock.now = NOW + 5_000
        assert await run_update(middleware, 7, read_code) == "1234"
        clock.now = NOW + 5_001
        assert await run_update(middleware, 7, read_code) is None

        def bump(context: Any) -> Any:
            context.session.counter += 1
            return dict(context.session)

        assert await run_update(middleware, 7, bump) == {"counter": 2}
        assert await case.raw_session("7") == {"counter": 2}


@pytest.mark.parametrize(("anyio_backend", "kind"), CASES)
async def test_an_unchanged_session_is_not_rewritten(
    anyio_backend: str, kind: str, store_opener: OpenStore
) -> None:
    """The stored value is re-indented behind the store's back (same JSON, other text);
    an update that only reads leaves that exact text in place, one that changes the
    session replaces it. For memory stores the mark is the stored object itself."""
    clock = FakeClock()
    async with store_opener(kind, clock=clock) as case:
        middleware = session(storage=case.storage, clock=clock)

        def start(context: Any) -> None:
            context.session.counter = 1
            context.session.profile = {"name": "ann", "tags": ["a"]}
            context.session.code = ttl("x", 60_000)

        await run_update(middleware, 5, start)
        before = await case.raw_session("5")
        await case.mark("5")

        def read_only(context: Any) -> Any:
            return (context.session.counter, context.session.profile["tags"], context.session.code)

        clock.now += 1_000
        assert await run_update(middleware, 5, read_only) == (1, ["a"], "x")
        assert await case.marked("5"), "an unchanged session was written again"
        assert await case.raw_session("5") == before

        def nested_change(context: Any) -> None:
            context.session.profile["tags"].append("b")

        await run_update(middleware, 5, nested_change)
        assert not await case.marked("5"), "a change deep in the session was not saved"
        after = await case.raw_session("5")
        assert after is not None
        assert after["profile"] == {"name": "ann", "tags": ["a", "b"]}
        assert after["__ttl"] == {"code": {"t": 60_000, "at": NOW}}, "code was not assigned again"
