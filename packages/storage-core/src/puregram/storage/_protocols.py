"""The storage contract: one required protocol and its optional capabilities.

A consumer asks for the least it needs (``KVStorage``) and discovers the rest at run time
with the ``is_*`` guards, which look for the capability's method and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeGuard, TypeVar

V = TypeVar("V")

__all__ = [
    "CounterStorage",
    "GetTouchStorage",
    "IterableStorage",
    "KVStorage",
    "Lease",
    "LockStorage",
    "TtlStorage",
    "is_counter_storage",
    "is_get_touch_storage",
    "is_iterable_storage",
    "is_lock_storage",
    "is_ttl_storage",
]


class KVStorage(Protocol[V]):
    """An async key-value store: the contract every store satisfies.

    Keys are ``str``; a non-``str`` key raises ``TypeError`` before anything happens.
    ``None`` is a value like any other, so ``get`` returning ``None`` may mean "stored
    ``None``" or "no such key": ask ``has`` when the difference matters.
    """

    async def get(self, key: str) -> V | None:
        """Return the value stored at ``key``, or ``None`` when there is none (or it expired)."""
        ...

    async def set(self, key: str, value: V) -> None:
        """Store ``value`` at ``key``, replacing what was there."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    async def has(self, key: str) -> bool:
        """Tell whether ``key`` holds a value (``None`` included) that has not expired."""
        ...


class IterableStorage(KVStorage[V], Protocol[V]):
    """A store that can list what it holds. Each method is an async generator."""

    def keys(self) -> AsyncIterator[str]:
        """Yield every live key exactly once."""
        ...

    def values(self) -> AsyncIterator[V]:
        """Yield the value of every live key."""
        ...

    def entries(self) -> AsyncIterator[tuple[str, V]]:
        """Yield ``(key, value)`` for every live key."""
        ...


class TtlStorage(KVStorage[V], Protocol[V]):
    """A store whose entries expire, and whose expiry a consumer can roll forward."""

    async def touch(self, key: str) -> None:
        """Restart ``key``'s time to live without rewriting it; a missing key stays missing."""
        ...


class GetTouchStorage(TtlStorage[V], Protocol[V]):
    """A ``TtlStorage`` that reads a value and rolls its ttl forward in one round trip.

    Session uses it so that an unchanged session costs one round trip (Redis ``GETEX``,
    SQLite ``UPDATE ... RETURNING``) instead of a ``get`` and a ``touch``.
    """

    async def get_and_touch(self, key: str) -> V | None:
        """Do ``get(key)`` and ``touch(key)`` at once; a missing key stays missing."""
        ...


class CounterStorage(KVStorage[V], Protocol[V]):
    """A store that counts hits in a fixed window atomically, across processes too.

    The entry at ``key`` is ``{"hits": n, "resetAt": unix_ms}``, the same record a
    consumer would write with ``get`` and ``set``, so both paths read each other's data.
    """

    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        """Add one hit to the window at ``key`` and return ``(hits, reset_at_ms)``.

        When ``key`` is missing or its window has ended (``resetAt <= now``), a new
        window starts: ``hits = 1`` and ``resetAt = now + window_ms``. The entry expires
        when its window ends. A live value at ``key`` that is not such an entry (another
        plugin's record) raises ``ValueError`` naming the key and is left as it was: a
        counter never overwrites data it does not own. ``window_ms < 1`` is a
        ``ValueError``.
        """
        ...


class Lease(Protocol[V]):
    """A lease held on one key (what ``LockStorage.lock`` gives): the value read when it
    was taken, and the writes that end it, each refused if the lease was lost.

    Exactly one of ``save``, ``remove`` or ``release`` ends a lease; leaving the
    ``async with`` block ends it too (releasing without writing, as when the block
    raised). Each costs one round trip on a networked store: the write (or the touch) and
    the release go together. A lease is lost when it outlived its ``lease_ms`` and the
    key's lease ended: a write is then refused with ``LeaseLostError`` and nothing is
    written, so a stale holder never overwrites what the next holder saved.
    """

    @property
    def key(self) -> str:
        """The key the lease is on."""
        ...

    @property
    def value(self) -> V | None:
        """The value at ``key`` when the lease was taken (``None`` when missing)."""
        ...

    @property
    def found(self) -> bool:
        """Whether ``key`` held a value (``None`` included) when the lease was taken."""
        ...

    async def save(self, value: V) -> None:
        """Store ``value`` at ``key`` and end the lease. ``LeaseLostError`` if it was lost.
        A value the store cannot hold raises (``TypeError``/``ValueError``) before anything
        is written, and the lease stays held until the block is left."""
        ...

    async def remove(self) -> None:
        """Delete ``key`` and end the lease. ``LeaseLostError`` if it was lost."""
        ...

    async def release(self, *, touch: bool = False) -> None:
        """End the lease without writing; with ``touch=True`` also roll the key's ttl
        forward (as ``TtlStorage.touch``), in the same round trip. Never raises for a
        lost lease: there is nothing to protect."""
        ...


class LockStorage(KVStorage[V], Protocol[V]):
    """A store that gives per-key mutual exclusion: across every process and store
    instance on one backend (a Redis server or cluster, a SQLite file), per instance
    for in-memory stores.

    The lease lives beside the value, never in it: stored records keep their format.
    """

    def lock(self, key: str, *, lease_ms: int = 30_000) -> AbstractAsyncContextManager[Lease[V]]:
        """``async with storage.lock(key) as lease:`` waits until ``key`` is free, takes
        it for at most ``lease_ms`` and reads its value (one round trip together).

        A holder that dies (or hangs) frees the key after ``lease_ms``; waiting never
        busy-loops. ``lease_ms`` is checked like every option (whole ms, at least 1).
        """
        ...


def is_ttl_storage(storage: KVStorage[V]) -> TypeGuard[TtlStorage[V]]:
    """Tell whether ``storage`` has ``touch``."""
    return callable(getattr(storage, "touch", None))


def is_get_touch_storage(storage: KVStorage[V]) -> TypeGuard[GetTouchStorage[V]]:
    """Tell whether ``storage`` has ``get_and_touch`` (and so ``touch``)."""
    return callable(getattr(storage, "get_and_touch", None)) and is_ttl_storage(storage)


def is_iterable_storage(storage: KVStorage[V]) -> TypeGuard[IterableStorage[V]]:
    """Tell whether ``storage`` has ``keys``, ``values`` and ``entries``."""
    return all(callable(getattr(storage, name, None)) for name in ("keys", "values", "entries"))


def is_counter_storage(storage: KVStorage[Any]) -> TypeGuard[CounterStorage[Any]]:
    """Tell whether ``storage`` has ``count_hit``."""
    return callable(getattr(storage, "count_hit", None))


def is_lock_storage(storage: KVStorage[V]) -> TypeGuard[LockStorage[V]]:
    """Tell whether ``storage`` has ``lock``."""
    return callable(getattr(storage, "lock", None))
