"""``enhance_storage``: versioned envelopes with lazy migrations and per-entry expiry."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeGuard, TypeVar

from ._codec import check_key
from ._namespaced import supports_prefix
from ._options import check_ms
from ._protocols import (
    KVStorage,
    Lease,
    LockStorage,
    is_get_touch_storage,
    is_iterable_storage,
    is_lock_storage,
    is_ttl_storage,
)

V = TypeVar("V")

__all__ = ["EnhancedStorage", "Migration", "enhance_storage"]

Migration = Callable[[Any], Any | Awaitable[Any]]
"""Upgrades data from the previous version; may be sync or async."""


def _unix_ms() -> int:
    return time.time_ns() // 1_000_000


def _is_envelope(raw: object) -> TypeGuard[dict[str, Any]]:
    if not isinstance(raw, dict) or "data" not in raw:
        return False
    version = raw.get("__v")
    return isinstance(version, int) and not isinstance(version, bool)


_EMPTY_ENVELOPE_KEYS = ({"__v"}, {"__v", "__exp"})


def _is_empty_envelope(raw: object) -> bool:
    """``{"__v": n}`` (with or without ``__exp``): what the TypeScript package writes for
    ``set(key, undefined)``, since ``JSON.stringify`` drops an undefined ``data``."""
    if not isinstance(raw, dict) or raw.keys() not in _EMPTY_ENVELOPE_KEYS:
        return False
    version = raw["__v"]
    return isinstance(version, int) and not isinstance(version, bool)


def _expiry(envelope: dict[str, Any]) -> int | float | None:
    exp = envelope.get("__exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return exp
    return None


class EnhancedStorage(Generic[V]):
    """A store that keeps each value in a ``{"__v", "__exp", "data"}`` envelope.

    Made by ``enhance_storage``. It has ``keys``, ``values`` and ``entries`` when the base
    store has them (each takes ``prefix=``, passed to the base when it
    ``supports_prefix``, else filtered), ``touch`` (and ``get_and_touch``) when the base
    has those, and
    ``lock`` (leases, see ``LockStorage``) when the base has it: check with
    ``is_iterable_storage``, ``is_ttl_storage`` and ``is_lock_storage`` as with any store.
    """

    def __init__(
        self,
        base: KVStorage[Any],
        *,
        migrations: Mapping[int, Migration] | None = None,
        millisecond_precision: bool = False,
        ttl_ms: int | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        steps = sorted((migrations or {}).items())
        for version, migration in steps:
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ValueError(f"migrations keys must be ints >= 1, got {version!r}")
            if not callable(migration):
                raise TypeError(f"migrations[{version}] must be callable, got {migration!r}")
        if ttl_ms is not None:
            ttl_ms = check_ms("ttl_ms", ttl_ms, owner="enhance_storage")
        self._base = base
        self._steps = tuple(steps)
        self._ttl_ms = ttl_ms
        self._keep_exp = millisecond_precision
        self._clock = clock or _unix_ms
        self.version: int = steps[-1][0] if steps else 0
        """The version stamped on every write: the highest migration key, or 0."""

        # Capabilities exist only where the base has them, so the is_* guards stay truthful;
        # they go into the instance dict so that type checkers do not promise them either.
        capabilities: dict[str, Any] = {}
        if is_ttl_storage(base):
            capabilities["touch"] = self._touch
            if is_get_touch_storage(base):
                capabilities["get_and_touch"] = self._get_and_touch
        self._native_prefix = supports_prefix(base)
        if is_iterable_storage(base):
            capabilities.update(keys=self._keys, values=self._values, entries=self._entries)
        if is_lock_storage(base):
            capabilities["lock"] = self._lock
        self.__dict__.update(capabilities)

    @property
    def base(self) -> KVStorage[Any]:
        """The wrapped store, which holds the envelopes."""
        return self._base

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base!r}, version={self.version})"

    async def get(self, key: str) -> V | None:
        """Read, migrate and write back when outdated; an expired entry is deleted."""
        return await self._open(key, await self._base.get(check_key(key)))

    async def _get_and_touch(self, key: str) -> V | None:
        base: Any = self._base
        return await self._open(key, await base.get_and_touch(check_key(key)))

    async def set(self, key: str, value: V) -> None:
        """Wrap ``value`` at the current version and store it (one extra read with
        ``millisecond_precision``, to keep the entry's ``__exp``)."""
        check_key(key)
        current = await self._base.get(key) if self._keep_exp else None
        await self._base.set(key, self._wrap(value, self._exp_for_write(current)))

    async def delete(self, key: str) -> None:
        # Checked here too: a hand-written base may not check keys itself.
        await self._base.delete(check_key(key))

    async def _touch(self, key: str) -> None:
        base: Any = self._base
        await base.touch(check_key(key))

    async def has(self, key: str) -> bool:
        """True for a live entry; reads the entry to see its ``__exp``."""
        raw = await self._base.get(check_key(key))
        if raw is None:
            return await self._base.has(key)
        return not self._expired(raw) and not _is_empty_envelope(raw)

    async def _keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        async for key, _ in self._live_entries(prefix):
            yield key

    async def _values(self, *, prefix: str = "") -> AsyncIterator[V]:
        async for _, value in self._entries(prefix=prefix):
            yield value

    async def _entries(self, *, prefix: str = "") -> AsyncIterator[tuple[str, V]]:
        async for key, raw in self._live_entries(prefix):
            if _is_envelope(raw):
                yield key, await self._migrate(raw["data"], raw["__v"])
            else:
                yield key, await self._migrate(raw, 0)

    async def _live_entries(self, prefix: str) -> AsyncIterator[tuple[str, Any]]:
        """The base's live entries under ``prefix``: asked of the base when it lists a
        prefix natively (``supports_prefix``), else filtered from a full walk."""
        base: Any = self._base
        if not prefix:
            walk = base.entries()
        elif self._native_prefix:
            walk = base.entries(prefix=prefix)
        else:
            walk = _filtered(base.entries(), prefix)
        async for key, raw in walk:
            if not self._expired(raw) and not _is_empty_envelope(raw):
                yield key, raw

    def _lock(self, key: str, *, lease_ms: int = 30_000) -> AbstractAsyncContextManager[Lease[V]]:
        """The base's lease, seen through the envelope: ``value`` is the migrated data
        (``None`` when missing or expired), ``save`` wraps like ``set``."""
        return _enhanced_lock(self, check_key(key), lease_ms)

    def _exp_for_write(self, current: Any) -> int | float | None:
        """The ``__exp`` a write carries: a live one kept (``millisecond_precision``),
        else ``now + ttl_ms``, else none. ``current`` is the stored value or ``None``."""
        exp: int | float | None = None
        if self._keep_exp and _is_envelope(current):
            exp = _expiry(current)
            if exp is not None and exp < self._clock():
                exp = None
        if exp is None and self._ttl_ms is not None:
            exp = self._clock() + self._ttl_ms
        return exp

    def _unwrap(self, raw: Any) -> tuple[bool, Any, int, int | float | None]:
        """``(live, data, version, exp)`` of a stored value, without writing anything."""
        if raw is None:
            return False, None, 0, None
        if _is_envelope(raw):
            exp = _expiry(raw)
            if exp is not None and exp < self._clock():
                return False, None, raw["__v"], exp
            return True, raw["data"], raw["__v"], exp
        if _is_empty_envelope(raw):
            return False, None, raw["__v"], None
        return True, raw, 0, None

    async def _open(self, key: str, raw: Any) -> V | None:
        live, data, version, exp = self._unwrap(raw)
        if not live:
            if raw is not None and _is_envelope(raw):
                await self._base.delete(key)  # expired: gone from the base too
            return None
        if version < self.version:
            data = await self._migrate(data, version)
            await self._base.set(key, self._wrap(data, exp))
        return data  # type: ignore[no-any-return]

    async def _migrate(self, data: Any, version: int) -> Any:
        for target, migration in self._steps:
            if target > version:
                data = migration(data)
                if inspect.isawaitable(data):
                    data = await data
        return data

    def _wrap(self, data: Any, exp: int | float | None) -> dict[str, Any]:
        envelope: dict[str, Any] = {"__v": self.version, "data": data}
        if exp is not None:
            envelope["__exp"] = exp
        return envelope

    def _expired(self, raw: object) -> bool:
        """An envelope is expired once ``__exp < now``, as in the TypeScript package."""
        if not _is_envelope(raw):
            return False
        exp = _expiry(raw)
        return exp is not None and exp < self._clock()


async def _filtered(
    entries: AsyncIterator[tuple[str, Any]], prefix: str
) -> AsyncIterator[tuple[str, Any]]:
    async for key, raw in entries:
        if key.startswith(prefix):
            yield key, raw


class _EnhancedLease(Generic[V]):
    """A base store's ``Lease`` with the envelope unwrapped on read and wrapped on write."""

    __slots__ = ("_found", "_lease", "_raw", "_store", "_value")

    def __init__(self, store: EnhancedStorage[V], lease: Lease[Any], found: bool, value: Any):
        self._store = store
        self._lease = lease
        self._raw = lease.value
        self._found = found
        self._value = value

    @property
    def key(self) -> str:
        return self._lease.key

    @property
    def value(self) -> V | None:
        return self._value  # type: ignore[no-any-return]

    @property
    def found(self) -> bool:
        return self._found

    async def save(self, value: V) -> None:
        store = self._store
        await self._lease.save(store._wrap(value, store._exp_for_write(self._raw)))

    async def remove(self) -> None:
        await self._lease.remove()

    async def release(self, *, touch: bool = False) -> None:
        await self._lease.release(touch=touch)


@asynccontextmanager
async def _enhanced_lock(
    store: EnhancedStorage[V], key: str, lease_ms: int
) -> AsyncIterator[_EnhancedLease[V]]:
    base: LockStorage[Any] = store._base  # type: ignore[assignment]
    async with base.lock(key, lease_ms=lease_ms) as lease:
        live, data, version, _ = store._unwrap(lease.value)
        if live and version < store.version:
            data = await store._migrate(data, version)  # written back by save, if any
        yield _EnhancedLease(store, lease, live, data if live else None)


def enhance_storage(
    base: KVStorage[Any],
    *,
    migrations: Mapping[int, Migration] | None = None,
    millisecond_precision: bool = False,
    ttl_ms: int | None = None,
    clock: Callable[[], int] | None = None,
) -> EnhancedStorage[Any]:
    """Wrap ``base`` so that it stores ``{"__v": int, "__exp": unix_ms, "data": value}``.

    ``migrations[n]`` upgrades version n-1 to n (sync or async; gaps are skipped); the
    highest key is the current version. A value that is not an envelope is legacy data at
    version 0. ``get`` migrates and writes back (one extra write, once per entry).
    ``ttl_ms`` stamps ``__exp = now + ttl_ms`` on every ``set``; an entry past its
    ``__exp`` reads as missing. ``millisecond_precision`` keeps a live entry's ``__exp``
    across rewrites (one extra read per ``set``). ``clock`` returns unix ms (for tests).
    Raises ``ValueError`` for a migration key below 1 or a ``ttl_ms`` below 1.
    """
    return EnhancedStorage(
        base,
        migrations=migrations,
        millisecond_precision=millisecond_precision,
        ttl_ms=ttl_ms,
        clock=clock,
    )
