"""``LruMemoryStorage``: a bounded in-process store that evicts the least recently used."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

from ._codec import reject_key
from ._dictstore import DictStore
from ._leases import LocalLeases
from ._options import check_count

V = TypeVar("V")

__all__ = ["LruMemoryStorage"]


class LruMemoryStorage(DictStore[V]):
    """At most ``max`` entries; setting one more evicts the least recently used.

    ``get`` (on a hit) and ``set`` make a key the most recent; ``has``, ``delete`` and
    iteration do not. Every operation is O(1): the order lives in an ``OrderedDict``.
    Iteration runs from the least to the most recently used, over a snapshot of keys.
    ``max`` is an ``int`` from 1 to ``MAX_COUNT`` (``TypeError``/``ValueError`` otherwise).
    """

    __slots__ = ("_max",)

    _data: OrderedDict[str, V]

    def __init__(self, *, max: int) -> None:  # noqa: A002 - the option's public name
        self._max = check_count("max", max, owner="LruMemoryStorage")
        self._data = OrderedDict()
        self._leases = LocalLeases()

    @property
    def max(self) -> int:
        """The most entries the store holds."""
        return self._max

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max={self._max}, size={len(self._data)})"

    # The hot paths test membership with ``in`` (an opcode, no method call) before
    # ``move_to_end``: cheaper than ``get(key, MISSING)`` on a hit and on a miss alike.
    async def get(self, key: str) -> V | None:
        if key.__class__ is not str and not isinstance(key, str):
            reject_key(key)
        data = self._data
        if key in data:
            data.move_to_end(key)
            return data[key]
        return None

    async def set(self, key: str, value: V) -> None:
        if key.__class__ is not str and not isinstance(key, str):
            reject_key(key)
        data = self._data
        if key in data:
            data.move_to_end(key)
            data[key] = value
        else:
            data[key] = value  # a new key goes to the end: the most recent
            if len(data) > self._max:
                data.popitem(last=False)
