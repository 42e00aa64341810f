"""``namespaced``: a view of the keys under one prefix of a store."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

from ._codec import check_key
from ._options import check_text
from ._protocols import (
    KVStorage,
    Lease,
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_lock_storage,
    is_ttl_storage,
)

V = TypeVar("V")

__all__ = ["NamespacedStorage", "namespaced", "supports_prefix"]


def supports_prefix(storage: object) -> bool:
    """Tell whether ``storage`` lists one prefix natively: its ``keys``, ``values`` and
    ``entries`` all take a keyword-only ``prefix: str = ""`` (the contract a store
    follows when it can list the keys starting with ``prefix`` without walking the rest,
    as Redis ``SCAN MATCH`` or a SQL primary-key range do)."""
    for name in ("keys", "values", "entries"):
        method = getattr(storage, name, None)
        if not callable(method):
            return False
        try:
            parameter = inspect.signature(method).parameters.get("prefix")
        except (TypeError, ValueError):  # a builtin or C method without a signature
            return False
        if parameter is None or parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            return False
    return True


class NamespacedStorage(Generic[V]):
    """The keys of ``storage`` that start with ``prefix``, with the prefix stripped.

    Made by ``namespaced``. ``get``, ``set``, ``delete`` and ``has`` add the prefix and
    cost what the store's own methods cost. The view has ``keys``/``values``/``entries``
    (which take ``prefix=`` themselves, so views nest natively), ``touch``,
    ``get_and_touch``, ``count_hit`` and ``lock`` exactly when the store has them: check
    with the ``is_*`` guards as with any store. Iteration lists only this namespace: in
    O(namespace) on a store that ``supports_prefix``, by filtering a full walk otherwise.
    """

    def __init__(self, storage: KVStorage[Any], prefix: str) -> None:
        prefix = check_text("prefix", prefix, owner="namespaced")
        if not prefix:
            raise ValueError("namespaced option 'prefix' must be a non-empty str, got ''")
        self._storage = storage
        self._prefix = prefix
        self._native = supports_prefix(storage)

        # As in enhance_storage: capabilities live in the instance dict, only where the
        # store has them, so the is_* guards answer truthfully.
        capabilities: dict[str, Any] = {}
        if is_ttl_storage(storage):
            capabilities["touch"] = self._touch
            if is_get_touch_storage(storage):
                capabilities["get_and_touch"] = self._get_and_touch
        if is_counter_storage(storage):
            capabilities["count_hit"] = self._count_hit
        if is_iterable_storage(storage):
            capabilities.update(keys=self._keys, values=self._values, entries=self._entries)
        if is_lock_storage(storage):
            capabilities["lock"] = self._lock
        self.__dict__.update(capabilities)

    @property
    def storage(self) -> KVStorage[Any]:
        """The wrapped store."""
        return self._storage

    @property
    def prefix(self) -> str:
        """The prefix this view adds to every key."""
        return self._prefix

    @property
    def native_prefix(self) -> bool:
        """Whether iteration asks the store for the prefix (O(namespace)), rather than
        filtering a walk of every key."""
        return self._native

    def __repr__(self) -> str:
        return f"namespaced({self._storage!r}, {self._prefix!r})"

    async def get(self, key: str) -> V | None:
        value: V | None = await self._storage.get(self._prefix + check_key(key))
        return value

    async def set(self, key: str, value: V) -> None:
        await self._storage.set(self._prefix + check_key(key), value)

    async def delete(self, key: str) -> None:
        await self._storage.delete(self._prefix + check_key(key))

    async def has(self, key: str) -> bool:
        return await self._storage.has(self._prefix + check_key(key))

    async def clear(self) -> int:
        """Delete every key of this namespace, and nothing else; return how many.

        Lists the namespace first (its keys only, in memory), then deletes them one by
        one: a key written meanwhile may survive. Raises ``TypeError`` when the store
        cannot list its keys (it is not an ``IterableStorage``).
        """
        if not is_iterable_storage(self._storage):
            raise TypeError(
                f"namespaced({self._prefix!r}).clear() needs a store that lists its keys; "
                f"{type(self._storage).__name__} has no keys()"
            )
        doomed = [key async for key in self._inner_keys("")]
        storage = self._storage
        for key in doomed:
            await storage.delete(key)
        return len(doomed)

    async def _touch(self, key: str) -> None:
        storage: Any = self._storage
        await storage.touch(self._prefix + check_key(key))

    async def _get_and_touch(self, key: str) -> V | None:
        storage: Any = self._storage
        return await storage.get_and_touch(self._prefix + check_key(key))  # type: ignore[no-any-return]

    async def _count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        storage: Any = self._storage
        return await storage.count_hit(self._prefix + check_key(key), window_ms)  # type: ignore[no-any-return]

    def _lock(self, key: str, *, lease_ms: int = 30_000) -> AbstractAsyncContextManager[Lease[V]]:
        return _namespaced_lock(self, check_key(key), lease_ms)

    async def _inner_keys(self, prefix: str) -> AsyncIterator[str]:
        """The store's keys under ``self.prefix + prefix``, prefix kept."""
        storage: Any = self._storage
        full = self._prefix + check_text("prefix", prefix, owner="keys")
        if self._native:
            async for key in storage.keys(prefix=full):
                yield key
        else:
            async for key in storage.keys():
                if key.startswith(full):
                    yield key

    async def _keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        cut = len(self._prefix)
        async for key in self._inner_keys(prefix):
            yield key[cut:]

    async def _values(self, *, prefix: str = "") -> AsyncIterator[V]:
        async for _, value in self._entries(prefix=prefix):
            yield value

    async def _entries(self, *, prefix: str = "") -> AsyncIterator[tuple[str, V]]:
        storage: Any = self._storage
        cut = len(self._prefix)
        full = self._prefix + check_text("prefix", prefix, owner="entries")
        if self._native:
            async for key, value in storage.entries(prefix=full):
                yield key[cut:], value
        else:
            async for key, value in storage.entries():
                if key.startswith(full):
                    yield key[cut:], value


class _NamespacedLease(Generic[V]):
    """The store's ``Lease`` on ``prefix + key``, showing ``key``."""

    __slots__ = ("_key", "_lease")

    def __init__(self, key: str, lease: Lease[V]) -> None:
        self._key = key
        self._lease = lease

    @property
    def key(self) -> str:
        return self._key

    @property
    def value(self) -> V | None:
        return self._lease.value

    @property
    def found(self) -> bool:
        return self._lease.found

    async def save(self, value: V) -> None:
        await self._lease.save(value)

    async def remove(self) -> None:
        await self._lease.remove()

    async def release(self, *, touch: bool = False) -> None:
        await self._lease.release(touch=touch)


@asynccontextmanager
async def _namespaced_lock(
    view: NamespacedStorage[V], key: str, lease_ms: int
) -> AsyncIterator[_NamespacedLease[V]]:
    storage: Any = view.storage
    async with storage.lock(view.prefix + key, lease_ms=lease_ms) as lease:
        yield _NamespacedLease(key, lease)


def namespaced(storage: KVStorage[Any], prefix: str) -> NamespacedStorage[Any]:
    """A view of the keys of ``storage`` under ``prefix``, the prefix stripped on the way
    out and added on the way in. Views nest: ``namespaced(namespaced(s, "a:"), "b:")``
    is the keys under ``"a:b:"``.

    Iteration lists only this namespace, natively (O(namespace)) when the store
    ``supports_prefix``, checked once here; ``clear()`` deletes the namespace. Raises
    ``TypeError`` for a ``prefix`` that is not a ``str``, ``ValueError`` for an empty one.
    """
    return NamespacedStorage(storage, prefix)
