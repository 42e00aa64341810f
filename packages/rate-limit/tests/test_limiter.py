from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from puregram.rate_limit import ForeignValueError, RateLimiter, rate_limit
from puregram.storage import LruMemoryStorage, MemoryStorage
from tools.stores import YieldingStorage

pytestmark = pytest.mark.anyio

START_MS = 1_700_000_000_000


@dataclass
class Clock:
    """Unix ms that move only when a test says so."""

    now: int = START_MS

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class Context:
    """What the limiter reads from a puregram update: ``sender_id`` and ``chat_id``."""

    sender_id: Any = None
    chat_id: Any = None


def limiter(clock: Clock, **options: Any) -> tuple[RateLimiter, MemoryStorage[Any]]:
    storage: MemoryStorage[Any] = MemoryStorage()
    return rate_limit(storage=storage, clock=clock, **options), storage


async def test_hits_within_limit_pass_and_the_next_gets_retry_after() -> None:
    clock = Clock()
    rl, _ = limiter(clock)
    user = Context(sender_id=42)
    assert [await rl.check(user, limit=3, window=10) for _ in range(3)] == [None] * 3
    assert await rl.check(user, limit=3, window=10) == 10


async def test_entry_is_stored_at_bucket_and_user_key_in_the_typescript_format() -> None:
    clock = Clock()
    rl, storage = limiter(clock)
    await rl.check(Context(sender_id=42), limit=5, window=60)
    await rl.check(Context(sender_id=42), limit=5, window=60, bucket="search")
    await rl.check(Context(sender_id=42), limit=5, window=60, bucket="search")
    assert dict(storage._data) == {
        "default:42": {"hits": 1, "resetAt": START_MS + 60_000},
        "search:42": {"hits": 2, "resetAt": START_MS + 60_000},
    }


async def test_over_limit_hits_are_still_counted() -> None:
    """Every hit counts, as in the TypeScript package and as ``count_hit`` does."""
    clock = Clock()
    rl, storage = limiter(clock)
    for _ in range(5):
        await rl.check(Context(sender_id=1), limit=2, window=10)
    assert await storage.get("default:1") == {"hits": 5, "resetAt": START_MS + 10_000}


async def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    clock = Clock()
    rl, _ = limiter(clock)
    user = Context(sender_id=7)
    await rl.check(user, limit=1, window=10)
    expected = {0: 10, 1: 10, 999: 10, 1_000: 9, 2_500: 8, 9_000: 1, 9_001: 1, 9_999: 1}
    for elapsed, retry in expected.items():
        clock.now = START_MS + elapsed
        assert await rl.check(user, limit=1, window=10) == retry, elapsed


async def test_first_hit_after_the_window_ends_starts_a_new_window() -> None:
    clock = Clock()
    rl, storage = limiter(clock)
    user = Context(sender_id=7)
    await rl.check(user, limit=2, window=10)
    await rl.check(user, limit=2, window=10)
    clock.advance(9_999)
    assert await rl.check(user, limit=2, window=10) == 1
    clock.advance(1)  # exactly resetAt: the old window is over
    assert await rl.check(user, limit=2, window=10) is None
    assert await storage.get("default:7") == {"hits": 1, "resetAt": START_MS + 20_000}
    assert await rl.check(user, limit=2, window=10) is None
    assert await rl.check(user, limit=2, window=10) == 10


async def test_a_long_idle_user_starts_fresh_and_the_window_is_anchored_at_that_hit() -> None:
    clock = Clock()
    rl, storage = limiter(clock)
    user = Context(sender_id=7)
    await rl.check(user, limit=1, window=10)
    clock.advance(3_600_000 + 123)
    assert await rl.check(user, limit=1, window=10) is None
    assert await storage.get("default:7") == {"hits": 1, "resetAt": clock.now + 10_000}


async def test_fractional_window_is_counted_in_milliseconds() -> None:
    clock = Clock()
    rl, storage = limiter(clock)
    user = Context(sender_id=7)
    assert await rl.check(user, limit=1, window=0.25) is None
    assert await storage.get("default:7") == {"hits": 1, "resetAt": START_MS + 250}
    assert await rl.check(user, limit=1, window=0.25) == 1
    clock.advance(250)
    assert await rl.check(user, limit=1, window=0.25) is None


async def test_buckets_and_users_count_independently() -> None:
    clock = Clock()
    rl, _ = limiter(clock)
    alice, bob = Context(sender_id=1), Context(sender_id=2)
    assert await rl.check(alice, limit=1, window=10, bucket="a") is None
    assert await rl.check(alice, limit=1, window=10, bucket="a") == 10
    assert await rl.check(alice, limit=1, window=10, bucket="b") is None
    assert await rl.check(alice, limit=1, window=10) is None
    assert await rl.check(bob, limit=1, window=10, bucket="a") is None


async def test_only_a_missing_bucket_is_the_default_bucket() -> None:
    """``f"{'default' if bucket is None else bucket}:{user_key}"``, as in TypeScript:
    ``bucket=""`` is a bucket of its own."""
    rl, storage = limiter(Clock())
    assert rl.resolve_key(Context(sender_id=3), "") == ":3"
    assert rl.resolve_key(Context(sender_id=3)) == "default:3"
    assert rl.resolve_key(Context(sender_id=3), None) == "default:3"
    assert rl.resolve_key(Context(sender_id=3), "x") == "x:3"
    await rl.check(Context(sender_id=3), limit=1, window=10, bucket="")
    assert await rl.check(Context(sender_id=3), limit=1, window=10) is None
    assert sorted(storage._data) == [":3", "default:3"]


async def test_the_largest_window_is_accepted_and_counted() -> None:
    rl, storage = limiter(Clock())
    assert await rl.hit("k", 1, 10**12) is None
    assert await storage.get("k") == {"hits": 1, "resetAt": START_MS + 10**15}


async def test_reset_forgets_the_window() -> None:
    clock = Clock()
    rl, storage = limiter(clock)
    user = Context(sender_id=5)
    await rl.check(user, limit=1, window=10, bucket="b")
    assert await rl.check(user, limit=1, window=10, bucket="b") == 10
    key = rl.resolve_key(user, "b")
    assert key == "b:5"
    await rl.reset(key)
    assert not await storage.has("b:5")
    assert await rl.check(user, limit=1, window=10, bucket="b") is None
    await rl.reset("never:hit")  # a missing key is fine


async def test_hit_uses_the_raw_key_as_is() -> None:
    clock = Clock()
    rl, storage = limiter(clock)
    assert await rl.hit("global", 2, 1) is None
    assert await rl.hit("global", 2, 1) is None
    assert await rl.hit("global", 2, 1) == 1
    assert await storage.get("global") == {"hits": 3, "resetAt": START_MS + 1_000}


@pytest.mark.parametrize("context", [object(), Context(sender_id=None)], ids=["none", "absent"])
async def test_updates_without_a_key_are_always_allowed_and_never_stored(context: object) -> None:
    rl, storage = limiter(Clock())
    assert rl.resolve_key(context) is None
    for _ in range(5):
        assert await rl.check(context, limit=1, window=10) is None
    ran: list[str] = []

    async def handler() -> None:
        ran.append("handler")

    mw = rl.middleware(limit=1, window=10, on_limit_exceeded=lambda c, r: ran.append("limited"))
    flt = rl.filter(limit=1, window=10)
    for _ in range(3):
        await mw(context, handler)
        assert await flt(context) is True
    assert ran == ["handler"] * 3
    assert len(storage) == 0


async def test_sender_id_zero_is_a_key() -> None:
    rl, _ = limiter(Clock())
    assert rl.resolve_key(Context(sender_id=0)) == "default:0"


async def test_custom_get_key_limits_per_chat() -> None:
    clock = Clock()
    rl, storage = limiter(clock, get_key=lambda ctx: f"chat{ctx.chat_id}")
    assert await rl.check(Context(sender_id=1, chat_id=9), limit=1, window=10) is None
    assert await rl.check(Context(sender_id=2, chat_id=9), limit=1, window=10) == 10
    assert await storage.has("default:chat9")


async def test_get_key_returning_none_skips_the_update() -> None:
    rl, storage = limiter(Clock(), get_key=lambda ctx: None)
    assert await rl.check(Context(sender_id=1), limit=1, window=10) is None
    assert await rl.check(Context(sender_id=1), limit=1, window=10) is None
    assert len(storage) == 0


async def test_get_key_returning_a_non_str_is_a_type_error() -> None:
    rl, storage = limiter(Clock(), get_key=lambda ctx: ctx.sender_id)
    with pytest.raises(TypeError, match="get_key must return a str or None, got int"):
        await rl.check(Context(sender_id=1), limit=1, window=10)
    assert len(storage) == 0


async def test_middleware_runs_next_within_budget_and_swallows_the_rest() -> None:
    clock = Clock()
    calls: list[tuple[str, int]] = []

    async def on_limit(context: Context, retry_after: int) -> None:
        await anyio.lowlevel.checkpoint()
        calls.append(("limited", retry_after))

    rl, _ = limiter(clock, on_limit_exceeded=on_limit)
    mw = rl.middleware(limit=2, window=30)
    user = Context(sender_id=1)

    async def handler() -> None:
        calls.append(("handled", 0))

    for _ in range(3):
        await mw(user, handler)
    clock.advance(20_500)
    await mw(user, handler)
    assert calls == [("handled", 0), ("handled", 0), ("limited", 30), ("limited", 10)]


async def test_sync_callback_is_called_and_per_call_callback_wins() -> None:
    seen: list[str] = []
    rl, _ = limiter(Clock(), on_limit_exceeded=lambda c, r: seen.append(f"limiter {r}"))
    own = rl.middleware(limit=1, window=5, on_limit_exceeded=lambda c, r: seen.append(f"own {r}"))
    shared = rl.middleware(limit=1, window=5, bucket="other")
    user = Context(sender_id=1)

    async def handler() -> None:
        seen.append("handler")

    for mw in (own, own, shared, shared):
        await mw(user, handler)
    assert seen == ["handler", "own 5", "handler", "limiter 5"]


async def test_without_any_callback_the_update_is_dropped_silently() -> None:
    rl, _ = limiter(Clock())
    mw = rl.middleware(limit=1, window=5)
    ran: list[int] = []

    async def handler() -> None:
        ran.append(1)

    await mw(Context(sender_id=1), handler)
    await mw(Context(sender_id=1), handler)
    assert ran == [1]


async def test_middleware_returns_after_next_and_propagates_its_errors() -> None:
    rl, _ = limiter(Clock())
    mw = rl.middleware(limit=5, window=5)

    async def boom() -> None:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await mw(Context(sender_id=1), boom)


async def test_callback_errors_propagate() -> None:
    def fail(context: object, retry_after: int) -> None:
        raise LookupError("callback failed")

    rl, _ = limiter(Clock(), on_limit_exceeded=fail)
    flt = rl.filter(limit=1, window=5)
    assert await flt(Context(sender_id=1)) is True
    with pytest.raises(LookupError, match="callback failed"):
        await flt(Context(sender_id=1))


async def test_filter_answers_and_calls_the_callback_when_over_budget() -> None:
    clock = Clock()
    seen: list[tuple[object, int]] = []
    rl, _ = limiter(clock)
    user = Context(sender_id=3)

    async def on_limit(context: object, retry_after: int) -> None:
        seen.append((context, retry_after))

    flt = rl.filter(limit=2, window=4, bucket="cmd", on_limit_exceeded=on_limit)
    assert [await flt(user) for _ in range(3)] == [True, True, False]
    assert seen == [(user, 4)]
    clock.advance(4_000)
    assert await flt(user) is True


async def test_check_never_calls_the_callback() -> None:
    seen: list[int] = []
    rl, _ = limiter(Clock(), on_limit_exceeded=lambda c, r: seen.append(r))
    for _ in range(3):
        await rl.check(Context(sender_id=1), limit=1, window=5)
    assert seen == []


async def test_middleware_and_filter_share_the_bucket_they_name() -> None:
    rl, _ = limiter(Clock())
    mw = rl.middleware(limit=2, window=5, bucket="shared")
    flt = rl.filter(limit=2, window=5, bucket="shared")
    user = Context(sender_id=1)

    async def handler() -> None:
        pass

    await mw(user, handler)
    assert await flt(user) is True
    assert await flt(user) is False


BAD_OPTIONS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"limit": 0, "window": 1}, ValueError, "'limit' must be from 1 to 9007199254740991, got 0"),
    ({"limit": 2**53, "window": 1}, ValueError, "'limit' must be from 1 to 9007199254740991"),
    ({"limit": -3, "window": 1}, ValueError, "'limit'"),
    ({"limit": 1.5, "window": 1}, TypeError, "'limit' must be an int, got float"),
    ({"limit": True, "window": 1}, TypeError, "'limit' must be an int, got bool"),
    ({"limit": "5", "window": 1}, TypeError, "'limit'"),
    ({"limit": 1, "window": 0}, ValueError, "'window' must be a finite number of seconds > 0"),
    ({"limit": 1, "window": -0.5}, ValueError, "'window'"),
    ({"limit": 1, "window": math.nan}, ValueError, "'window'"),
    ({"limit": 1, "window": math.inf}, ValueError, "'window'"),
    # accepted before, and then every hit failed: now + window_ms overflowed the stores
    ({"limit": 1, "window": 1e16}, ValueError, "'window' .* at most 1000000000000, got 1e"),
    ({"limit": 1, "window": 10**12 + 1}, ValueError, "'window'"),
    ({"limit": 1, "window": "10"}, TypeError, "'window' must be seconds as an int or float"),
    ({"limit": 1, "window": None}, TypeError, "'window'"),
    ({"limit": 1, "window": 1, "bucket": 5}, TypeError, "'bucket' must be a str or None"),
]


@pytest.mark.parametrize(("options", "error", "message"), BAD_OPTIONS)
async def test_bad_options_raise_naming_the_option_and_store_nothing(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    rl, storage = limiter(Clock())
    with pytest.raises(error, match=message):
        rl.middleware(**options)
    with pytest.raises(error, match=message):
        rl.filter(**options)
    with pytest.raises(error, match=message):
        await rl.check(Context(sender_id=1), **options)
    with pytest.raises(error, match=message):
        # bad options are rejected even for an update that would never be counted
        await rl.check(Context(), **options)
    if "bucket" not in options:
        with pytest.raises(error, match=message):
            await rl.hit("k", options["limit"], options["window"])
    assert len(storage) == 0


async def test_tiny_window_is_at_least_one_millisecond() -> None:
    clock = Clock()
    rl, storage = limiter(clock)
    await rl.hit("k", 1, 0.0001)
    assert await storage.get("k") == {"hits": 1, "resetAt": START_MS + 1}


async def test_bad_keys_are_type_errors() -> None:
    rl, storage = limiter(Clock())
    with pytest.raises(TypeError, match="storage keys must be str, got int"):
        await rl.hit(5, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="storage keys must be str"):
        await rl.reset(None)  # type: ignore[arg-type]
    assert len(storage) == 0


@pytest.mark.parametrize("option", ["get_key", "on_limit_exceeded", "clock"])
def test_non_callable_options_are_type_errors(option: str) -> None:
    with pytest.raises(TypeError, match=f"'{option}' must be callable, got int"):
        rate_limit(**{option: 5})  # type: ignore[arg-type]


def test_non_callable_per_call_callback_is_a_type_error() -> None:
    rl = rate_limit()
    with pytest.raises(TypeError, match="'on_limit_exceeded' must be callable"):
        rl.middleware(limit=1, window=1, on_limit_exceeded="reply")  # type: ignore[arg-type]


async def test_a_value_that_is_not_an_entry_is_an_error_and_stays() -> None:
    """A foreign record at a rate-limit key (a key collision) is never overwritten."""
    storage: MemoryStorage[Any] = MemoryStorage({"default:1": {"counter": 3}})
    rl = rate_limit(storage=storage, clock=Clock())
    with pytest.raises(ForeignValueError, match="'default:1' is not an entry") as info:
        await rl.check(Context(sender_id=1), limit=5, window=10)
    assert info.value.key == "default:1"
    assert await storage.get("default:1") == {"counter": 3}
    # the lock of the failed hit is released: the next hit is not stuck
    await storage.delete("default:1")
    assert await rl.check(Context(sender_id=1), limit=5, window=10) is None


async def test_default_storage_is_a_bounded_lru() -> None:
    rl = rate_limit()
    storage = rl.storage
    assert isinstance(storage, LruMemoryStorage)
    assert storage.max == 10_000
    assert await rl.check(Context(sender_id=1), limit=1, window=60) is None
    assert await rl.check(Context(sender_id=1), limit=1, window=60) == 60


async def test_real_clock_by_default() -> None:
    storage: MemoryStorage[Any] = MemoryStorage()
    rl = rate_limit(storage=storage)
    before = time.time_ns() // 1_000_000
    await rl.hit("k", 1, 2)
    after = time.time_ns() // 1_000_000
    entry = await storage.get("k")
    assert entry is not None
    assert before + 2_000 <= entry["resetAt"] <= after + 2_000
    assert await rl.hit("k", 1, 2) in (1, 2)


async def test_get_and_set_path_is_exact_within_one_process() -> None:
    storage = YieldingStorage()
    rl = rate_limit(storage=storage, clock=Clock())
    allowed = 0

    async def worker() -> None:
        nonlocal allowed
        for _ in range(10):
            if await rl.hit("k", 25, 10) is None:
                allowed += 1

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(worker)
    assert allowed == 25
    assert await storage.get("k") == {"hits": 100, "resetAt": START_MS + 10_000}
    assert len(rl._locks) == 0


@pytest.mark.parametrize(
    "foreign",
    [
        "text",
        [1, 2],
        {"hits": True, "resetAt": START_MS + 1},
        {"hits": 1.5, "resetAt": START_MS + 1},
        {"hits": 1},
        {"hits": 1, "resetAt": "soon"},
    ],
    ids=repr,
)
async def test_values_that_are_not_entries_are_refused(foreign: Any) -> None:
    storage: MemoryStorage[Any] = MemoryStorage({"k": foreign})
    rl = rate_limit(storage=storage, clock=Clock())
    with pytest.raises(ForeignValueError, match="the record at key 'k' is not an entry"):
        await rl.hit("k", 5, 10)
    assert await storage.get("k") == foreign


@pytest.mark.parametrize(
    "make_storage", [MemoryStorage, lambda: LruMemoryStorage(max=10)], ids=["memory", "lru"]
)
async def test_a_stored_json_null_is_foreign_as_over_redis_and_sqlite(make_storage: Any) -> None:
    """F18: ``get`` gives ``None`` for it as for a missing key; it used to be replaced by a
    new window here while the counter stores refused it."""
    storage = make_storage()
    await storage.set("k", None)
    rl = rate_limit(storage=storage, clock=Clock())
    with pytest.raises(ForeignValueError, match="the record at key 'k' is not an entry") as info:
        await rl.hit("k", 5, 10)
    assert "a JSON null" in str(info.value)
    assert await storage.has("k")
    assert await storage.get("k") is None
    assert len(rl._locks) == 0


async def test_a_live_entry_costs_one_get_and_one_set_a_new_one_a_has_more() -> None:
    calls: list[str] = []

    class Counting(MemoryStorage[Any]):
        async def get(self, key: str) -> Any:
            calls.append("get")
            return await super().get(key)

        async def set(self, key: str, value: Any) -> None:
            calls.append("set")
            await super().set(key, value)

        async def has(self, key: str) -> bool:
            calls.append("has")
            return await super().has(key)

    rl = rate_limit(storage=Counting(), clock=Clock())
    await rl.hit("k", 5, 10)
    assert calls == ["get", "has", "set"]
    calls.clear()
    await rl.hit("k", 5, 10)
    assert calls == ["get", "set"]
