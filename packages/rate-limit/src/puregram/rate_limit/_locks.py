"""Per-key locks that exist only while someone holds or waits for them."""

from __future__ import annotations

import anyio

__all__ = ["KeyLocks"]


class KeyLocks:
    """Serialise the read-modify-write of one key inside one process.

    A held key maps to the queue of its waiters' events; a free key is absent. Taking a
    free key costs a dict insert and no event, so the uncontended path stays cheap (an
    ``anyio.Lock`` per hit cost more than the hit itself). ``release`` hands the key
    straight to the first waiter, so nobody can barge in between.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, list[anyio.Event]] = {}

    def __len__(self) -> int:
        return len(self._held)

    async def acquire(self, key: str) -> None:
        """Take ``key``; pair with :meth:`release`. A cancelled wait leaves no trace.

        A free key is taken without a checkpoint.
        """
        waiters = self._held.get(key)
        if waiters is None:
            self._held[key] = []
            return
        event = anyio.Event()
        waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                self.release(key)  # handed over while cancelled: pass it on
            else:
                waiters.remove(event)
            raise

    def release(self, key: str) -> None:
        waiters = self._held[key]
        if waiters:
            waiters.pop(0).set()
        else:
            del self._held[key]
