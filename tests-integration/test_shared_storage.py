"""One storage instance behind session and rate-limit at once, on memory, a SQLite file,
Redis and PostgreSQL: both records sit side by side, each in its own documented format."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _integration import FakeClock, OpenStore, check_rate_entry, run_update

from puregram.rate_limit import rate_limit
from puregram.session import session

pytestmark = pytest.mark.anyio

CASES = [
    pytest.param(backend, kind, id=f"{kind}-{backend}")
    for kind in ("memory", "sqlite")
    for backend in ("asyncio", "trio")
] + [
    pytest.param("asyncio", kind, id=f"{kind}-asyncio")
    for kind in ("redis", "redis-cluster", "postgres")
]

USERS = 4
UPDATES = 5
LIMIT = 3
WINDOW_S = 60


def unix_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.mark.parametrize(("anyio_backend", "kind"), CASES)
async def test_session_and_rate_limit_share_one_store(
    anyio_backend: str, kind: str, store_opener: OpenStore
) -> None:
    """Session first, then the limiter's middleware (3 per minute), then a handler that
    counts and spends one hit of a "report" bucket. 5 updates per user: 3 reach the
    handler, 2 are swallowed without touching the session."""
    async with store_opener(kind, clock=FakeClock()) as case:
        with_session = session(storage=case.storage)
        limiter = rate_limit(storage=case.storage)
        limited = limiter.middleware(limit=LIMIT, window=WINDOW_S)

        async def handle(user: int) -> None:
            def handler(context: Any) -> Any:
                context.session.counter = context.session.get("counter", 0) + 1
                return context

            async def chain(context: Any, next_: Any) -> None:
                async def after_limit() -> None:
                    await next_()
                    await limiter.check(context, limit=10, window=30, bucket="report")

                await limited(context, after_limit)

            async def both(context: Any, next_: Any) -> None:
                await with_session(context, lambda: chain(context, next_))

            await run_update(both, user, handler)

        started = unix_ms()
        for _ in range(UPDATES):
            for sender in range(1, USERS + 1):
                await handle(sender)
        finished = unix_ms()

        users = [str(sender) for sender in range(1, USERS + 1)]
        expected_keys = {*users, *(f"default:{u}" for u in users), *(f"report:{u}" for u in users)}
        assert await case.raw_keys() == expected_keys
        for user in users:
            assert await case.raw_session(user) == {"counter": LIMIT}
            default = check_rate_entry(await case.raw_get(f"default:{user}"))
            assert default["hits"] == UPDATES, "every hit counts, over-limit ones too"
            assert started + WINDOW_S * 1000 <= default["resetAt"] <= finished + WINDOW_S * 1000
            report = check_rate_entry(await case.raw_get(f"report:{user}"))
            assert report["hits"] == LIMIT
            assert started + 30_000 <= report["resetAt"] <= finished + 30_000

        # Each plugin reads its own records back through the shared store.
        assert await run_update(with_session, 2, lambda context: dict(context.session)) == {
            "counter": LIMIT
        }
        assert await limiter.check(_Sender(2), limit=LIMIT, window=WINDOW_S) is not None
        await limiter.reset("default:2")
        assert await limiter.check(_Sender(2), limit=LIMIT, window=WINDOW_S) is None
        assert await case.raw_session("2") == {"counter": LIMIT}, "reset touched the session"


class _Sender:
    def __init__(self, sender_id: int) -> None:
        self.sender_id = sender_id
