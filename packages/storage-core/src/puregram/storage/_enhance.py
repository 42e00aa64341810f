"""``enhance_storage``: versioned envelopes with lazy migrations and per-entry expiry."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, TypeGuard, TypeVar

from ._codec import check_key
from ._protocols import KVStorage, is_get_touch_storage, is_iterable_storage, is_ttl_storage

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


def _expiry(envelope: dict[str, Any]) -> int | float | None:
    exp = envelope.get("__exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return exp
    return None


class EnhancedStorage(Generic[V]):
    """A store that keeps each value in a ``{"__v", "__exp", "data"}`` envelope.

    Made by ``enhance_storage``. It has ``keys``, ``values`` and ``entries`` when the base
    store has them, and ``touch`` (and ``get_and_touch``) when the base has those: check
    with ``is_iterable_storage`` and ``is_ttl_storage`` as with any store.
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
        if ttl_ms is not None and (
            isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms < 1
        ):
            raise ValueError(f"ttl_ms must be a positive int or None, got {ttl_ms!r}")
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
        if is_iterable_storage(base):
            capabilities.update(keys=self._keys, values=self._values, entries=self._entries)
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
        exp: int | float | None = None
        if self._keep_exp:
            current = await self._base.get(key)
            if _is_envelope(current):
                exp = _expiry(current)
                if exp is not None and exp <= self._clock():
                    exp = None
        if exp is None and self._ttl_ms is not None:
            exp = self._clock() + self._ttl_ms
        await self._base.set(key, self._wrap(value, exp))

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
        return not self._expired(raw)

    async def _keys(self) -> AsyncIterator[str]:
        async for key, _ in self._live_entries():
            yield key

    async def _values(self) -> AsyncIterator[V]:
        async for _, value in self._entries():
            yield value

    async def _entries(self) -> AsyncIterator[tuple[str, V]]:
        async for key, raw in self._live_entries():
            if _is_envelope(raw):
                yield key, await self._migrate(raw["data"], raw["__v"])
            else:
                yield key, await self._migrate(raw, 0)

    async def _live_entries(self) -> AsyncIterator[tuple[str, Any]]:
        base: Any = self._base
        async for key, raw in base.entries():
            if not self._expired(raw):
                yield key, raw

    async def _open(self, key: str, raw: Any) -> V | None:
        if raw is None:
            return None
        if not _is_envelope(raw):
            version, exp, data = 0, None, raw
        else:
            version, exp, data = raw["__v"], _expiry(raw), raw["data"]
            if exp is not None and exp <= self._clock():
                await self._base.delete(key)
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
        if not _is_envelope(raw):
            return False
        exp = _expiry(raw)
        return exp is not None and exp <= self._clock()


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
