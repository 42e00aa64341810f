"""Leases inside one process: the ``lock`` of ``MemoryStorage`` and ``LruMemoryStorage``.

A key's lease is a token and a deadline in a table; the table holds only keys that are
leased or waited for, so it does not grow as keys come and go. A waiter parks on an
event that a release sets (no polling) and, at the latest, wakes at the holder's
deadline: a holder that hangs past ``lease_ms`` loses the key to it, and that holder's
later write is refused with ``LeaseLostError``.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from ._async import new_event, wait_event
from ._errors import LeaseLostError, describe_key
from ._options import MAX_MS, check_ms

V = TypeVar("V")

__all__ = ["BaseLease", "LocalLease", "LocalLeases", "lease_backoff"]


def lease_backoff(
    *,
    first_s: float = 0.001,
    last_s: float = 0.05,
    jitter: Callable[[float, float], float] = random.uniform,
) -> Iterator[float]:
    """Seconds to sleep between attempts at a lease another process holds, for adapter
    authors: ``first_s`` (1 ms), doubling, capped at ``last_s`` (50 ms), each drawn from
    the upper half of its step (``jitter(low, high)``) so that waiters spread out."""
    delay = first_s
    while True:
        yield jitter(delay / 2, delay)
        delay = min(delay * 2, last_s)


class _Slot:
    __slots__ = ("deadline", "token", "waiters")

    def __init__(self) -> None:
        self.token = 0  # 0: nobody holds the key
        self.deadline = 0.0
        self.waiters: deque[Any] = deque()


class LocalLeases:
    """Per-key leases with deadlines inside one process, under asyncio or trio.

    ``token = await leases.acquire(key, lease_ms)`` waits until ``key`` is free or its
    holder's deadline has passed (a hung holder loses the key), parking on an event that
    ``release(key, token)`` sets: no polling. ``holds(key, token)`` tells whether a token
    still holds its key. Adapters put it in front of their own cross-process lease, so
    that one task per key and process talks to the backend and a hung local holder still
    frees the key after ``lease_ms``. The table holds only keys in use.
    """

    __slots__ = ("_slots", "_tokens")

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._tokens = itertools.count(1)

    def __len__(self) -> int:
        return len(self._slots)

    async def acquire(self, key: str, lease_ms: int) -> int:
        """Wait until ``key`` is free (or its holder's deadline passed); return the token."""
        slots = self._slots
        while True:
            slot = slots.get(key)
            if slot is None:
                slot = slots[key] = _Slot()
            now = time.monotonic()
            if slot.token == 0 or slot.deadline <= now:
                slot.token = next(self._tokens)
                slot.deadline = now + lease_ms / 1000
                return slot.token
            event = new_event()
            slot.waiters.append(event)
            try:
                await wait_event(event, slot.deadline - now)
            except BaseException:
                self._give_up(key, slot, event)
                raise
            if not event.is_set():  # the holder's deadline passed: try again
                slot.waiters.remove(event)

    def _give_up(self, key: str, slot: _Slot, event: Any) -> None:
        """A waiter is cancelled: leave the queue, and pass on a wake-up it was given."""
        if event.is_set():
            if slot.token == 0 and slot.waiters:
                slot.waiters.popleft().set()
        else:
            slot.waiters.remove(event)
        if slot.token == 0 and not slot.waiters and self._slots.get(key) is slot:
            del self._slots[key]

    def renew(self, key: str, token: int, lease_ms: int) -> None:
        """Move the deadline of ``token``'s lease to ``lease_ms`` from now (when it still
        holds ``key``): an adapter does so once its backend's lease is taken, which may be
        well after the local one."""
        slot = self._slots.get(key)
        if slot is not None and slot.token == token:
            slot.deadline = time.monotonic() + lease_ms / 1000

    def holds(self, key: str, token: int) -> bool:
        """Whether ``token`` still holds ``key``: taken and not past its deadline."""
        slot = self._slots.get(key)
        return slot is not None and slot.token == token and slot.deadline > time.monotonic()

    def release(self, key: str, token: int) -> None:
        """Free ``key`` if ``token`` holds it (a lost lease frees nothing) and wake one waiter."""
        slot = self._slots.get(key)
        if slot is None or slot.token != token:
            return
        slot.token = 0
        if slot.waiters:
            slot.waiters.popleft().set()
        else:
            del self._slots[key]


class BaseLease(Generic[V]):
    """What every ``Lease`` keeps, for adapter authors: the key, the value read when the
    lease was taken, whether the key held one, and whether the lease has ended.

    A subclass adds ``save``, ``remove`` and ``release`` (the writes that end the lease),
    each calling ``_check_open()`` before anything else so that a second ending is a
    ``RuntimeError``, and sets ``_done`` once the lease has ended.
    """

    __slots__ = ("_done", "_found", "_key", "_value")

    def __init__(self, key: str, found: bool = False, value: V | None = None) -> None:
        self._key = key
        self._found = found
        self._value = value
        self._done = False

    @property
    def key(self) -> str:
        """The key the lease is on."""
        return self._key

    @property
    def value(self) -> V | None:
        """The value at ``key`` when the lease was taken (``None`` when missing)."""
        return self._value

    @property
    def found(self) -> bool:
        """Whether ``key`` held a live value (``None`` included) when it was taken."""
        return self._found

    def __repr__(self) -> str:
        state = "ended" if self._done else "held"
        return f"{type(self).__name__}(key={describe_key(self._key)}, {state})"

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError(f"the lease on key {describe_key(self._key)} has ended already")


class LocalLease(BaseLease[V]):
    """The ``Lease`` of an in-memory store, and its own ``async with`` context: entering
    takes the key and reads the value, leaving releases it. A class rather than an
    ``asynccontextmanager``: the generator machinery cost more than the lease itself."""

    __slots__ = ("_lease_ms", "_leases", "_store", "_token")

    def __init__(self, store: Any, leases: LocalLeases, key: str, lease_ms: int) -> None:
        super().__init__(key)
        self._store = store
        self._leases = leases
        if lease_ms.__class__ is not int or not 1 <= lease_ms <= MAX_MS:  # the common case
            lease_ms = check_ms("lease_ms", lease_ms, owner=f"{type(store).__name__}.lock")
        self._lease_ms = lease_ms
        self._token = 0
        self._done = True  # until entered

    async def __aenter__(self) -> LocalLease[V]:
        if self._token:
            raise RuntimeError(f"a lock() on key {self._key!r} was entered twice")
        key = self._key
        self._token = await self._leases.acquire(key, self._lease_ms)
        self._done = False
        data = self._store._data
        if key in data:
            self._found = True
            self._value = data[key]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._done:
            self._done = True
            self._leases.release(self._key, self._token)

    def _end(self) -> None:
        self._check_open()
        self._done = True
        if not self._leases.holds(self._key, self._token):
            raise LeaseLostError(self._key, "it outlived its lease_ms")

    async def save(self, value: V) -> None:
        self._end()
        try:
            await self._store.set(self._key, value)
        finally:
            self._leases.release(self._key, self._token)

    async def remove(self) -> None:
        self._end()
        try:
            await self._store.delete(self._key)
        finally:
            self._leases.release(self._key, self._token)

    async def release(self, *, touch: bool = False) -> None:
        """End the lease; ``touch`` does nothing here: in-memory entries never expire."""
        if not self._done:
            self._done = True
            self._leases.release(self._key, self._token)
