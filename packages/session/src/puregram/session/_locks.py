"""``KeyLocks``: a first-come, first-served lock per key, held only while in use."""

from __future__ import annotations

from collections import deque

import anyio

__all__ = ["KeyLocks"]


class KeyLocks:
    """Serialise work per key within one process, on any anyio backend.

    The table maps a held key to the queue of tasks waiting for it (``None`` while nobody
    waits), so taking a free key is one dict insert: no lock object, no await, no
    yield. A waiter parks on an ``anyio.Event``; ``release`` hands the key straight to
    the first waiter, so a newcomer never jumps the queue. A key leaves the table when it
    is released with nobody waiting: the table does not grow as keys come and go.

    Usage: ``if not locks.try_acquire(key): await locks.wait(key)``, then
    ``locks.release(key)`` in a ``finally``.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, deque[anyio.Event] | None] = {}

    def __len__(self) -> int:
        return len(self._held)

    def try_acquire(self, key: str) -> bool:
        """Take ``key`` if it is free; return whether it was taken."""
        if key in self._held:
            return False
        self._held[key] = None
        return True

    async def wait(self, key: str) -> None:
        """Wait until ``key`` is handed to this task (after ``try_acquire`` failed).

        Cancellation while waiting leaves the queue as if this task never came; if the
        key was handed over at that moment, it is passed on to the next waiter.
        """
        waiters = self._held.get(key)
        if waiters is None:
            waiters = self._held[key] = deque()
        event = anyio.Event()
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
        """Hand ``key`` to the next waiter, or free it."""
        waiters = self._held[key]
        if waiters:
            waiters.popleft().set()
        else:
            del self._held[key]
