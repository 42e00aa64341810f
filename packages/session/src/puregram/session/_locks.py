"""``KeyLocks``: one ``anyio.Lock`` per key in use, dropped when nobody holds or awaits it."""

from __future__ import annotations

import anyio

__all__ = ["KeyLocks"]


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.users = 0


class KeyLocks:
    """Serialise work per key within one process.

    ``enter(key)`` returns the key's entry (creating it) and counts one more user;
    ``leave(key, entry)`` counts one fewer and drops the entry when nobody is left, so
    the table does not grow as distinct keys come and go. The caller holds
    ``entry.lock`` in between; ``anyio.Lock`` serves waiters first come, first served.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def enter(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        return entry

    def leave(self, key: str, entry: _Entry) -> None:
        entry.users -= 1
        if not entry.users:
            del self._entries[key]
