"""The parts the two in-memory stores share: a dict (or OrderedDict) behind the contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Generic, TypeVar

from ._codec import reject_key
from ._leases import LocalLease, LocalLeases

V = TypeVar("V")

MISSING: object = object()


class DictStore(Generic[V]):
    """Reads that change no order, and iteration over a snapshot of the keys.

    Every method checks its key with ``key.__class__ is not str and not
    isinstance(key, str)``: the identity test settles the usual exact ``str`` without a
    call (about 5 % of a call here), ``isinstance`` still admits ``str`` subclasses.

    Iterating copies the key list once, so the store may change while a consumer walks
    it: a key deleted meanwhile is skipped, a key added meanwhile is not visited.
    """

    __slots__ = ("_data", "_leases")

    _data: MutableMapping[str, V]
    _leases: LocalLeases

    @property
    def size(self) -> int:
        """How many entries the store holds."""
        return len(self._data)

    def __len__(self) -> int:
        return len(self._data)

    async def delete(self, key: str) -> None:
        if key.__class__ is not str and not isinstance(key, str):
            reject_key(key)
        self._data.pop(key, None)

    async def has(self, key: str) -> bool:
        if key.__class__ is not str and not isinstance(key, str):
            reject_key(key)
        return key in self._data

    def lock(self, key: str, *, lease_ms: int = 30_000) -> LocalLease[V]:
        """``async with store.lock(key) as lease:`` per-key exclusion inside this store
        instance (the ``LockStorage`` capability). A holder that hangs past ``lease_ms``
        loses the key to the next waiter, and its write is refused with ``LeaseLostError``.
        Waiting parks on an event; no polling."""
        if key.__class__ is not str and not isinstance(key, str):
            reject_key(key)
        return LocalLease(self, self._leases, key, lease_ms)

    # ``prefix`` is the native prefix-iteration contract (see ``namespaced``): here a
    # filter over the snapshot, since a dict has no order to seek in.
    async def keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        """Every key (starting with ``prefix``, when given), oldest first."""
        data = self._data
        for key in list(data) if not prefix else [k for k in data if k.startswith(prefix)]:
            if key in data:
                yield key

    async def values(self, *, prefix: str = "") -> AsyncIterator[V]:
        """The value of every key (starting with ``prefix``, when given)."""
        async for _, value in self.entries(prefix=prefix):
            yield value

    async def entries(self, *, prefix: str = "") -> AsyncIterator[tuple[str, V]]:
        """``(key, value)`` of every key (starting with ``prefix``, when given)."""
        data = self._data
        for key in list(data) if not prefix else [k for k in data if k.startswith(prefix)]:
            value = data.get(key, MISSING)  # OrderedDict.get does not move the key
            if value is not MISSING:
                yield key, value  # type: ignore[misc]
