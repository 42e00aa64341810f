"""``MemoryStorage``: an unbounded in-process store backed by a ``dict``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from ._codec import reject_key
from ._dictstore import DictStore
from ._leases import LocalLeases

V = TypeVar("V")

__all__ = ["MemoryStorage"]


class MemoryStorage(DictStore[V]):
    """An unbounded ``dict`` behind the async contract; gone when the process ends.

    Seed it from ``(key, value)`` pairs or a mapping. Values are kept by reference, like
    a ``dict``, and never expire. Every operation is O(1). Iteration runs in insertion
    order over a snapshot of the keys, so the store may change while it runs.
    """

    __slots__ = ()

    _data: dict[str, V]

    def __init__(self, entries: Iterable[tuple[str, V]] | Mapping[str, V] = ()) -> None:
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        data: dict[str, V] = {}
        for key, value in pairs:
            if not isinstance(key, str):
                reject_key(key)
            data[key] = value
        self._data = data
        self._leases = LocalLeases()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={len(self._data)})"

    async def get(self, key: str) -> V | None:
        if key.__class__ is not str and not isinstance(key, str):
            reject_key(key)
        return self._data.get(key)

    async def set(self, key: str, value: V) -> None:
        if key.__class__ is not str and not isinstance(key, str):
            reject_key(key)
        self._data[key] = value
