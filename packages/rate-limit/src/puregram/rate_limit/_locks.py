"""Per-key locks that exist only while someone holds or waits for them."""

from __future__ import annotations

import anyio

__all__ = ["KeyLocks"]


class _Slot:
    __slots__ = ("lock", "users")

    def __init__(self, lock: anyio.Lock) -> None:
        self.lock = lock
        self.users = 1


class KeyLocks:
    """Serialise the read-modify-write of one key inside one process.

    A key's lock is made on first use and dropped when its last user leaves, so the
    table holds only keys in flight. An uncontended key is taken without a checkpoint
    (``acquire_nowait``), which keeps the common path cheap.
    """

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def __len__(self) -> int:
        return len(self._slots)

    async def acquire(self, key: str) -> None:
        """Take ``key``'s lock; pair with :meth:`release`. A cancelled wait leaves no trace."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(anyio.Lock())
            slot.lock.acquire_nowait()
            return
        slot.users += 1
        try:
            await slot.lock.acquire()
        except BaseException:
            self._leave(key, slot)
            raise

    def release(self, key: str) -> None:
        slot = self._slots[key]
        slot.lock.release()
        self._leave(key, slot)

    def _leave(self, key: str, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[key]
