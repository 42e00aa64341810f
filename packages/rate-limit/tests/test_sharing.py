"""One store behind session and rate-limit at once: each finds only its own records."""

from __future__ import annotations

from typing import Any

import pytest

from puregram.rate_limit import ForeignValueError, rate_limit
from puregram.session import session
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000


class Context:
    """A bare update: session sets ``.session`` on it; both read ``.sender_id``."""

    def __init__(self, sender_id: int | None) -> None:
        self.sender_id = sender_id
        self.session: Any = None


async def test_session_and_rate_limit_share_one_memory_storage() -> None:
    storage: MemoryStorage[Any] = MemoryStorage()
    with_session = session(storage=storage, clock=lambda: NOW)
    limiter = rate_limit(storage=storage, clock=lambda: NOW)
    limited = limiter.middleware(limit=2, window=60)
    handled: list[int] = []

    async def run(context: Context) -> None:
        async def handler() -> None:
            context.session.counter = context.session.get("counter", 0) + 1
            handled.append(context.session.counter)

        async def after_session() -> None:
            await limited(context, handler)

        await with_session(context, after_session)

    for _ in range(3):
        await run(Context(sender_id=42))
    await run(Context(sender_id=7))

    # the third update of user 42 was swallowed: its session was not changed
    assert handled == [1, 2, 1]
    assert dict(storage._data) == {
        "42": {"counter": 2},
        "default:42": {"hits": 3, "resetAt": NOW + 60_000},
        "7": {"counter": 1},
        "default:7": {"hits": 1, "resetAt": NOW + 60_000},
    }
    await limiter.reset("default:42")
    assert await storage.get("42") == {"counter": 2}


async def test_a_session_key_with_a_colon_can_collide_and_is_never_overwritten() -> None:
    """The one collision the README warns about: a custom session key shaped like
    ``bucket:user``. The limiter refuses the foreign record instead of clobbering it."""
    storage: MemoryStorage[Any] = MemoryStorage()
    with_session = session(storage=storage, get_storage_key=lambda c: f"default:{c.sender_id}")
    limiter = rate_limit(storage=storage)
    context = Context(sender_id=42)

    async def handler() -> None:
        context.session.name = "Ada"

    await with_session(context, handler)
    with pytest.raises(ForeignValueError, match="'default:42' is not an entry"):
        await limiter.check(context, limit=5, window=60)
    assert await storage.get("default:42") == {"name": "Ada"}
