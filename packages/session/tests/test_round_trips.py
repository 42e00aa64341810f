"""Round trips per update, counted by a wrapper store around ``MemoryStorage``.

The wrappers are test doubles for the storage contract, not fakes of a server: each
method forwards to a real ``MemoryStorage`` and records its name. ``TtlCounting`` adds
``touch`` (a ``TtlStorage``) and ``GetTouchCounting`` adds ``get_and_touch`` (a
``GetTouchStorage``), so the middleware picks the same path it takes over Redis or
SQLite with ``isolation="process"`` (none of these wrappers has ``lock``, so that is
their default). The Redis benchmark counts the same thing from the server's command
stats. The lease path is pinned in ``test_leases.py``.

A read that finds nothing is followed by a ``has``: ``get`` returns ``None`` for a stored
JSON ``null`` too, which must be refused rather than overwritten by a new session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from puregram.session import session
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio


class Counting:
    """A plain ``KVStorage``: get, set, delete, has."""

    def __init__(self, **entries: Any) -> None:
        self.inner: MemoryStorage[Any] = MemoryStorage(entries)
        self.calls: list[str] = []

    async def get(self, key: str) -> Any:
        self.calls.append("get")
        return await self.inner.get(key)

    async def set(self, key: str, value: Any) -> None:
        self.calls.append("set")
        await self.inner.set(key, value)

    async def delete(self, key: str) -> None:
        self.calls.append("delete")
        await self.inner.delete(key)

    async def has(self, key: str) -> bool:
        self.calls.append("has")
        return await self.inner.has(key)


class TtlCounting(Counting):
    async def touch(self, key: str) -> None:
        self.calls.append("touch")


class GetTouchCounting(TtlCounting):
    async def get_and_touch(self, key: str) -> Any:
        self.calls.append("get_and_touch")
        return await self.inner.get(key)


class Update:
    sender_id = 1
    session: Any = None


def read(s: Any) -> None:
    _ = s.get("counter")


def bump(s: Any) -> None:
    s.counter = s.get("counter", 0) + 1


def clear(s: Any) -> None:
    s.clear()


def fail(s: Any) -> None:
    s.counter = 100
    raise LookupError


CASES = [
    # (store, record before, handler, calls)
    (GetTouchCounting, True, read, ["get_and_touch"]),
    (GetTouchCounting, True, bump, ["get_and_touch", "set"]),
    (GetTouchCounting, True, clear, ["get_and_touch", "delete"]),
    (GetTouchCounting, False, read, ["get_and_touch", "has"]),
    (GetTouchCounting, False, bump, ["get_and_touch", "has", "set"]),
    (GetTouchCounting, True, fail, ["get_and_touch"]),
    (TtlCounting, True, read, ["get", "touch"]),
    (TtlCounting, True, bump, ["get", "set"]),  # never a touch after a set
    (TtlCounting, True, clear, ["get", "delete"]),
    (TtlCounting, False, read, ["get", "has"]),  # nothing stored, nothing to touch
    (TtlCounting, False, bump, ["get", "has", "set"]),
    (TtlCounting, True, fail, ["get"]),
    (Counting, True, read, ["get"]),
    (Counting, True, bump, ["get", "set"]),
    (Counting, True, clear, ["get", "delete"]),
    (Counting, False, read, ["get", "has"]),
    (Counting, True, fail, ["get"]),
]


@pytest.mark.parametrize(
    ("store_type", "existing", "handler", "calls"),
    CASES,
    ids=[f"{c[0].__name__}-{'existing' if c[1] else 'new'}-{c[2].__name__}" for c in CASES],
)
async def test_calls_per_update(
    store_type: type[Counting],
    existing: bool,
    handler: Callable[[Any], None],
    calls: list[str],
) -> None:
    store = store_type(**({"1": {"counter": 1}} if existing else {}))
    mw = session(storage=store)
    context = Update()

    async def next_() -> None:
        handler(context.session)

    try:
        await mw(context, next_)
    except LookupError:
        assert handler is fail
    assert store.calls == calls
