"""ttl through the middleware: the ``"__ttl"`` record format and expiry across updates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from puregram.session import session, ttl
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio

START = 1_700_000_000_000


class Clock:
    """A fake unix-ms clock that tests move by hand instead of sleeping."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


class Update:
    def __init__(self, sender_id: int = 1) -> None:
        self.sender_id = sender_id
        self.session: Any = None


async def run(mw: Any, handler: Callable[[Any], object]) -> None:
    """One update through ``mw``; ``handler`` gets ``context.session``."""
    context = Update()

    async def next_() -> None:
        handler(context.session)

    await mw(context, next_)


async def test_metadata_is_stored_under_ttl_and_hidden_from_the_handler() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    clock = Clock()
    mw = session(storage=store, clock=clock)
    await run(mw, lambda s: s.update(user=ttl({"id": 7}, 300_000), lang="en"))
    assert await store.get("1") == {
        "user": {"id": 7},
        "lang": "en",
        "__ttl": {"user": {"t": 300_000, "at": START}},
    }
    seen: list[Any] = []
    await run(mw, lambda s: seen.append((dict(s), "__ttl" in s, len(s))))
    assert seen == [({"user": {"id": 7}, "lang": "en"}, False, 2)]


async def test_an_expired_key_is_gone_now_and_in_every_later_update() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    clock = Clock()
    mw = session(storage=store, clock=clock)
    seen: list[object] = []

    def expire_midway(s: Any) -> None:
        s.code = ttl("1234", 1_000)
        s.keep = True
        seen.append(s.get("code"))
        clock.now += 1_001
        seen.append(s.get("code"))

    await run(mw, expire_midway)
    assert await store.get("1") == {"keep": True}
    await run(mw, lambda s: seen.append(s.get("code")))
    assert seen == ["1234", None, None]


async def test_an_expired_key_in_a_stored_record_is_pruned_on_load() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    clock = Clock()
    mw = session(storage=store, clock=clock)
    await run(mw, lambda s: s.update(code=ttl("1234", 1_000), keep=1))
    clock.now += 5_000
    await run(mw, lambda s: None)  # nothing touched, yet the record changed: it is saved
    assert await store.get("1") == {"keep": 1}


async def test_a_record_with_nothing_but_metadata_is_deleted() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    clock = Clock()
    mw = session(storage=store, clock=clock)
    await run(mw, lambda s: s.update(code=ttl("1234", 1_000)))
    assert await store.has("1")
    clock.now += 1_001
    await run(mw, lambda s: None)
    assert not await store.has("1")


async def test_metadata_for_keys_that_are_gone_is_dropped() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, clock=Clock())
    await run(mw, lambda s: s.update(a=ttl(1, 1_000), b=ttl(2, 1_000)))
    await run(mw, lambda s: s.pop("a"))
    assert await store.get("1") == {"b": 2, "__ttl": {"b": {"t": 1_000, "at": START}}}


async def test_an_assignment_in_a_later_update_restarts_the_clock() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    clock = Clock()
    mw = session(storage=store, clock=clock)
    await run(mw, lambda s: s.update(counter=ttl(0, 5_000)))
    clock.now += 3_000

    def bump(s: Any) -> None:
        s.counter += 1

    await run(mw, bump)
    assert (await store.get("1") or {})["__ttl"] == {"counter": {"t": 5_000, "at": START + 3_000}}
    clock.now += 4_999
    await run(mw, bump)
    assert (await store.get("1") or {})["counter"] == 2


async def test_ttl_zero_in_a_later_update_removes_the_metadata() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, clock=Clock())
    await run(mw, lambda s: s.update(counter=ttl(0, 5_000)))
    await run(mw, lambda s: s.update(counter=ttl(2, 0)))
    assert await store.get("1") == {"counter": 2}


async def test_malformed_metadata_is_ignored_rather_than_fatal() -> None:
    """A record written by hand may carry junk under ``__ttl``: those keys do not expire."""
    store: MemoryStorage[Any] = MemoryStorage(
        {"1": {"a": 1, "b": 2, "__ttl": {"a": "soon", "b": {"t": "x", "at": 0}, "c": {}}}}
    )
    clock = Clock()
    mw = session(storage=store, clock=clock)
    seen: list[Any] = []
    await run(mw, lambda s: seen.append(dict(s)))
    assert seen == [{"a": 1, "b": 2}]
    assert await store.get("1") == {"a": 1, "b": 2}  # the junk was dropped on save


async def test_initial_may_use_ttl() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    clock = Clock()
    mw = session(storage=store, clock=clock, initial=lambda _: {"greeted": ttl(False, 60_000)})
    await run(mw, lambda s: None)
    assert await store.get("1") == {
        "greeted": False,
        "__ttl": {"greeted": {"t": 60_000, "at": START}},
    }


async def test_a_key_lives_through_exactly_t_and_expires_one_ms_later() -> None:
    """The boundary of @puregram/session: expired once ``now - at > t``."""
    store: MemoryStorage[Any] = MemoryStorage()
    clock = Clock()
    mw = session(storage=store, clock=clock)
    await run(mw, lambda s: s.update(code=ttl("1234", 1_000)))
    seen: list[object] = []
    clock.now = START + 1_000
    await run(mw, lambda s: seen.append(s.get("code")))
    clock.now = START + 1_001
    await run(mw, lambda s: seen.append(s.get("code")))
    assert seen == ["1234", None]


async def test_a_fractional_t_written_by_javascript_is_honoured_and_kept() -> None:
    store: MemoryStorage[Any] = MemoryStorage(
        {
            "1": {
                "a": 1,
                "b": 2,
                "__ttl": {"a": {"t": 1500.5, "at": START}, "b": {"t": 10, "at": START + 0.5}},
            }
        }
    )
    clock = Clock()
    mw = session(storage=store, clock=clock)
    seen: list[Any] = []
    clock.now = START + 1_500
    await run(mw, lambda s: seen.append(dict(s)))
    assert seen == [{"a": 1}]  # b: 1500 - 0.5 > 10; a: 1500 <= 1500.5
    assert await store.get("1") == {"a": 1, "__ttl": {"a": {"t": 1500.5, "at": START}}}
    clock.now = START + 1_501
    await run(mw, lambda s: seen.append(dict(s)))
    assert seen[-1] == {}
    assert not await store.has("1")


@pytest.mark.parametrize(
    "entry",
    [
        {"t": 0, "at": START},
        {"t": -5, "at": START},
        {"t": True, "at": START},
        {"t": 1_000, "at": False},
        {"t": 1_000, "at": None},
        {"t": "1000", "at": START},
    ],
    ids=repr,
)
async def test_ttl_entries_that_are_not_finite_positive_numbers_are_dropped(
    entry: dict[str, Any],
) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": {"a": 1, "__ttl": {"a": entry}}})
    clock = Clock()
    clock.now = START + 10**9
    mw = session(storage=store, clock=clock)
    seen: list[Any] = []
    await run(mw, lambda s: seen.append(dict(s)))
    assert seen == [{"a": 1}]  # never expires
    assert await store.get("1") == {"a": 1}


@pytest.mark.parametrize(
    ("ms", "error", "message"),
    [
        (-1, ValueError, "ttl option 'ms' must be from 0 to 1000000000000000 milliseconds"),
        (10**15 + 1, ValueError, "ttl option 'ms' must be from 0 to 1000000000000000"),
        (True, TypeError, "ttl option 'ms' must be a whole number of milliseconds"),
        (1.5, TypeError, "ttl option 'ms' must be a whole number of milliseconds"),
        (1000.0, TypeError, "got float 1000.0"),
        ("1000", TypeError, "ttl option 'ms'"),
    ],
    ids=repr,
)
def test_ttl_ms_is_checked_by_the_core_checker(
    ms: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ttl("x", ms)  # type: ignore[arg-type]


def test_ttl_ms_bounds_that_are_accepted() -> None:
    assert ttl("x", 0).ms == 0  # type: ignore[attr-defined]
    assert ttl("x", 10**15).ms == 10**15  # type: ignore[attr-defined]
