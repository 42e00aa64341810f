"""``KeyLocks``: a first-come, first-served lock per key, held only while in use."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

__all__ = ["Event", "KeyLocks"]


class Event(Protocol):
    """What ``KeyLocks`` needs of an event: ``anyio.Event``, ``asyncio.Event``, ``trio.Event``."""

    def set(self) -> object: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> object: ...


class KeyLocks:
    """Serialise read-modify-write cycles per key within one process.

    For plugins that read a record, change it and write it back (session, rate-limit):
    overlapping updates of one key run one after another, so none is lost; distinct keys
    never wait for each other. Across processes there is no lock: use a store's atomic
    capability (``CounterStorage``) where it matters.

    The table maps a held key to the queue of tasks waiting for it (``None`` while nobody
    waits), so taking a free key is one dict insert: no lock object, no await. A waiter
    parks on an event from ``event_factory`` (pass ``anyio.Event`` to run on asyncio and
    trio); ``release`` hands the key straight to the first waiter, so no newcomer jumps
    the queue. A key leaves the table when released with nobody waiting, so the table
    does not grow as keys come and go. ``len()`` is the number of keys held.
    """

    __slots__ = ("_held", "_new_event")

    def __init__(self, event_factory: Callable[[], Event]) -> None:
        self._new_event = event_factory
        self._held: dict[str, deque[Event] | None] = {}

    def __len__(self) -> int:
        return len(self._held)

    def try_acquire(self, key: str) -> bool:
        """Take ``key`` if it is free; return whether it was taken. Never waits."""
        if key in self._held:
            return False
        self._held[key] = None
        return True

    async def acquire(self, key: str) -> None:
        """Take ``key``, waiting for it if needed; pair with ``release`` in a ``finally``.
        A free key is taken without yielding to the event loop."""
        if not self.try_acquire(key):
            await self.wait(key)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """``async with locks.hold(key):`` acquire, run the block, release (even when the
        block raises or is cancelled)."""
        if not self.try_acquire(key):
            await self.wait(key)
        try:
            yield
        finally:
            self.release(key)

    async def wait(self, key: str) -> None:
        """Wait until ``key`` is handed to this task (after ``try_acquire`` failed).

        Raises ``RuntimeError`` when nobody holds ``key``: nothing would ever hand it over
        (call ``acquire`` instead). Cancellation while waiting leaves the queue as if this
        task never came; if the key was handed over at that moment, it is passed on to the
        next waiter.
        """
        if key not in self._held:
            raise RuntimeError(
                f"KeyLocks.wait({key!r}): the key is not held, so nothing would hand it "
                "over; use acquire() (or hold()), which takes a free key at once"
            )
        waiters = self._held[key]
        if waiters is None:
            waiters = self._held[key] = deque()
        event = self._new_event()
        waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                self.release(key)
            else:
                waiters.remove(event)
            raise

    def release(self, key: str) -> None:
        """Hand ``key`` to the next waiter, or free it. ``KeyError`` if it is not held."""
        waiters = self._held[key]
        if waiters:
            waiters.popleft().set()
        else:
            del self._held[key]
