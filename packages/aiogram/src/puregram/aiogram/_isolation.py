"""``EventIsolation``: aiogram's event isolation over a store's leases."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from aiogram.fsm.storage.base import BaseEventIsolation, KeyBuilder, StorageKey

from puregram.storage import KVStorage, LocalLeases, check_ms, is_lock_storage

from ._fsm import FsmStorage
from ._keys import FsmKeyBuilder

__all__ = ["EventIsolation"]


class EventIsolation(BaseEventIsolation):
    """aiogram's ``BaseEventIsolation``: updates of one FSM key run one at a time.

    ``EventIsolation(storage)`` holds the store's lease on ``key_builder.build(key,
    "lock")`` for the whole update (``storage.lock(name, lease_ms=lease_ms)``): exclusive
    across processes on ``SqliteStorage`` and ``RedisStorage`` (also on a Redis Cluster),
    per instance on memory stores. The lease lives beside the values, so nothing is ever
    written at the lock's key. Over a store without ``lock`` (or with ``storage=None``)
    the updates are isolated inside this process only, by leases that leave the table
    when unused (aiogram's ``SimpleEventIsolation`` keeps one lock per key forever).

    - ``storage``: a puregram store, or an ``FsmStorage`` (its store and key builder).
    - ``key_builder``: default the ``FsmStorage``'s, else ``FsmKeyBuilder()``.
    - ``lease_ms``: the longest an update holds its key (default 60,000, aiogram's
      ``RedisEventIsolation`` timeout): a process that dies mid-update frees the user
      after that long. An update that runs longer loses the key to the next one.
    """

    def __init__(
        self,
        storage: KVStorage[Any] | FsmStorage | None = None,
        *,
        key_builder: KeyBuilder | None = None,
        lease_ms: int = 60_000,
    ) -> None:
        if isinstance(storage, FsmStorage):
            if key_builder is None:
                key_builder = storage.key_builder
            storage = storage.storage
        if key_builder is None:
            key_builder = FsmKeyBuilder()
        elif not isinstance(key_builder, KeyBuilder):
            raise TypeError(
                "EventIsolation option 'key_builder' must be an aiogram KeyBuilder, "
                f"got {type(key_builder).__name__}"
            )
        if storage is not None and not callable(getattr(storage, "get", None)):
            raise TypeError(
                "EventIsolation(storage) must be a puregram KVStorage, an FsmStorage or None, "
                f"got {type(storage).__name__}"
            )
        self.storage = storage
        self.key_builder = key_builder
        self.lease_ms = check_ms("lease_ms", lease_ms, owner="EventIsolation")
        self._store_lock = (
            storage.lock if storage is not None and is_lock_storage(storage) else None
        )
        self._leases = LocalLeases()

    @property
    def cross_process(self) -> bool:
        """Whether updates hold the store's lease (else: locks inside this process)."""
        return self._store_lock is not None

    def __repr__(self) -> str:
        return f"EventIsolation({self.storage!r}, lease_ms={self.lease_ms})"

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        """Hold ``key`` for the block: one lease round trip to enter, one to leave."""
        name = self.key_builder.build(key, "lock")
        if self._store_lock is not None:
            async with self._store_lock(name, lease_ms=self.lease_ms):
                yield
            return
        leases = self._leases
        token = await leases.acquire(name, self.lease_ms)
        try:
            yield
        finally:
            leases.release(name, token)

    async def close(self) -> None:
        """Nothing to close: the store is the ``FsmStorage``'s (or yours) to close."""
