"""``RateLimiter``: fixed-window counting over a store, and its middleware and filter."""

from __future__ import annotations

import inspect
from typing import Any

import anyio

from puregram.storage import (
    CounterStorage,
    KeyLocks,
    KVStorage,
    LruMemoryStorage,
    check_key,
    is_counter_storage,
)

from ._types import Clock, Filter, GetKey, Middleware, Next, OnLimitExceeded
from ._window import check_bucket, check_options, entry, foreign, new_hits, retry_after, unix_ms

__all__ = ["RateLimiter", "rate_limit"]

DEFAULT_MAX_KEYS = 10_000


def default_get_key(context: Any) -> str | None:
    """``str(context.sender_id)``, or ``None`` when it is missing or ``None`` (as session)."""
    sender_id = getattr(context, "sender_id", None)
    return None if sender_id is None else str(sender_id)


class RateLimiter:
    """Counts hits per key in fixed windows. Make one with :func:`rate_limit`.

    Over a store with ``count_hit`` (Redis, SQLite) a hit is one atomic call, exact
    across processes. Over any other store it is a ``get`` and a ``set`` of the entry,
    serialised per key inside this process; between processes the last write wins.
    """

    __slots__ = ("_clock", "_counter", "_get_key", "_locks", "_on_limit_exceeded", "_storage")

    def __init__(
        self,
        *,
        storage: KVStorage[Any] | None = None,
        get_key: GetKey | None = None,
        on_limit_exceeded: OnLimitExceeded | None = None,
        clock: Clock | None = None,
    ) -> None:
        for name, value in (
            ("get_key", get_key),
            ("on_limit_exceeded", on_limit_exceeded),
            ("clock", clock),
        ):
            if value is not None and not callable(value):
                raise TypeError(
                    f"rate_limit option {name!r} must be callable, got {type(value).__name__}"
                )
        self._storage: KVStorage[Any] = (
            LruMemoryStorage(max=DEFAULT_MAX_KEYS) if storage is None else storage
        )
        self._get_key: GetKey = default_get_key if get_key is None else get_key
        self._on_limit_exceeded = on_limit_exceeded
        self._clock: Clock = unix_ms if clock is None else clock
        self._counter: CounterStorage[Any] | None = (
            self._storage if is_counter_storage(self._storage) else None
        )
        self._locks = KeyLocks(anyio.Event)

    @property
    def storage(self) -> KVStorage[Any]:
        """The store the entries live in (the one passed in, or the default LRU)."""
        return self._storage

    def __repr__(self) -> str:
        return f"{type(self).__name__}(storage={self._storage!r})"

    def resolve_key(self, context: Any, bucket: str | None = None) -> str | None:
        """The stored key ``f"{'default' if bucket is None else bucket}:{user_key}"``, or
        ``None`` when ``get_key`` gives no user key. No I/O. ``bucket=""`` is a bucket of
        its own (``":42"``), as in the TypeScript package. ``get_key`` returning a
        non-``str`` is a ``TypeError``."""
        check_bucket(bucket)
        user_key = self._get_key(context)
        if user_key is None:
            return None
        if not isinstance(user_key, str):
            raise TypeError(
                f"rate_limit get_key must return a str or None, got {type(user_key).__name__}"
            )
        return f"{'default' if bucket is None else bucket}:{user_key}"

    async def check(
        self, context: Any, *, limit: int, window: float, bucket: str | None = None
    ) -> int | None:
        """Count one hit for ``context``; ``None`` when allowed, else ``retry_after``.

        An update without a key is allowed and touches no store. Never calls
        ``on_limit_exceeded``. Costs what :meth:`hit` costs.
        """
        return await self._check(context, limit, check_options(limit, window), bucket)

    async def _check(
        self, context: Any, limit: int, window_ms: int, bucket: str | None
    ) -> int | None:
        key = self.resolve_key(context, bucket)
        if key is None:
            return None
        return await self._hit(key, limit, window_ms)

    async def hit(self, key: str, limit: int, window: float) -> int | None:
        """Count one hit on the stored key ``key`` as is (no bucket prefix added).

        Returns ``None`` when the hit is within ``limit`` hits per ``window`` seconds,
        else ``retry_after``: whole seconds until the window ends, rounded up, at least 1.
        Every hit is counted, over-limit ones too. Costs one ``count_hit`` on a counter
        store, else one ``get`` and one ``set`` (and a ``has`` when the ``get`` found
        nothing). Raises ``TypeError``/``ValueError`` for a bad key or option, before the
        store is touched; a stored value that is not an entry (a JSON ``null`` included)
        is a ``ForeignValueError`` naming the key, and is left as it was.
        """
        window_ms = check_options(limit, window)
        return await self._hit(check_key(key), limit, window_ms)

    async def reset(self, key: str) -> None:
        """Forget the window at the stored key ``key`` (one ``delete``)."""
        await self._storage.delete(check_key(key))

    async def _hit(self, key: str, limit: int, window_ms: int) -> int | None:
        counter = self._counter
        if counter is not None:
            hits, reset_at = await counter.count_hit(key, window_ms)
        else:
            hits, reset_at = await self._get_and_set(key, window_ms)
        if hits <= limit:
            return None
        return retry_after(reset_at, int(self._clock()))

    async def _get_and_set(self, key: str, window_ms: int) -> tuple[int, int]:
        storage = self._storage
        locks = self._locks
        await locks.acquire(key)
        try:
            stored = await storage.get(key)
            # ``get`` answers None for a missing key and for a stored JSON null alike:
            # only then ask ``has``, so that a live entry still costs one get and one set.
            if stored is None and await storage.has(key):
                raise foreign(key, "a JSON null")
            hits, reset_at = new_hits(key, stored, int(self._clock()), window_ms)
            await storage.set(key, entry(hits, reset_at))
        finally:
            locks.release(key)
        return hits, reset_at

    def middleware(
        self,
        *,
        limit: int,
        window: float,
        bucket: str | None = None,
        on_limit_exceeded: OnLimitExceeded | None = None,
    ) -> Middleware:
        """``async def mw(context, next)`` that calls ``next`` only within budget.

        Over budget, ``next`` is not called and ``on_limit_exceeded(context,
        retry_after)`` runs (this call's callback, else the limiter's, else nothing).
        Options are checked now, not on the first update.
        """
        window_ms, callback = self._gate_options(limit, window, bucket, on_limit_exceeded)
        check = self._check

        async def rate_limit_middleware(context: Any, next: Next) -> None:  # noqa: A002
            retry = await check(context, limit, window_ms, bucket)
            if retry is None:
                await next()
            elif callback is not None:
                await _call(callback, context, retry)

        return rate_limit_middleware

    def filter(
        self,
        *,
        limit: int,
        window: float,
        bucket: str | None = None,
        on_limit_exceeded: OnLimitExceeded | None = None,
    ) -> Filter:
        """``async def f(context) -> bool``: ``True`` within budget; over it ``False``,
        after running the callback as :meth:`middleware` does. Options are checked now."""
        window_ms, callback = self._gate_options(limit, window, bucket, on_limit_exceeded)
        check = self._check

        async def rate_limit_filter(context: Any) -> bool:
            retry = await check(context, limit, window_ms, bucket)
            if retry is None:
                return True
            if callback is not None:
                await _call(callback, context, retry)
            return False

        return rate_limit_filter

    def _gate_options(
        self,
        limit: int,
        window: float,
        bucket: str | None,
        on_limit_exceeded: OnLimitExceeded | None,
    ) -> tuple[int, OnLimitExceeded | None]:
        """Check a middleware's or filter's options once, when it is built: the window in
        ms, and the callback to run over budget (this call's, else the limiter's)."""
        window_ms = check_options(limit, window)
        check_bucket(bucket)
        if on_limit_exceeded is None:
            return window_ms, self._on_limit_exceeded
        if not callable(on_limit_exceeded):
            raise TypeError(
                "rate limit option 'on_limit_exceeded' must be callable, "
                f"got {type(on_limit_exceeded).__name__}"
            )
        return window_ms, on_limit_exceeded


async def _call(callback: OnLimitExceeded, context: Any, retry: int) -> None:
    # A sync callback is called; an async one (or one returning an awaitable) is awaited.
    result = callback(context, retry)
    if inspect.isawaitable(result):
        await result


def rate_limit(
    *,
    storage: KVStorage[Any] | None = None,
    get_key: GetKey | None = None,
    on_limit_exceeded: OnLimitExceeded | None = None,
    clock: Clock | None = None,
) -> RateLimiter:
    """Make a :class:`RateLimiter`.

    ``storage`` defaults to ``LruMemoryStorage(max=10_000)``; ``get_key(context)``
    (sync) to ``str(context.sender_id)`` or ``None``; ``on_limit_exceeded(context,
    retry_after)`` (sync or async) is the default callback of the middleware and filter;
    ``clock()`` returns unix ms (for tests) and defaults to the system clock.
    Non-callable options are a ``TypeError``.
    """
    return RateLimiter(
        storage=storage, get_key=get_key, on_limit_exceeded=on_limit_exceeded, clock=clock
    )
