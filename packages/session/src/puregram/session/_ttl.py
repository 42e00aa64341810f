"""``ttl()``: mark a session key to expire, and the ``"__ttl"`` metadata it leaves.

The metadata sits in the stored record under ``TTL_KEY`` as ``{key: {"t": ms, "at":
unix_ms}}``: the key expires once ``now - at >= t``. The handler never sees it.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

__all__ = ["TTL_KEY", "Ttl", "read_meta", "ttl"]

T = TypeVar("T")

TTL_KEY = "__ttl"


class Ttl:
    """What ``ttl()`` returns: a value and its time to live, unwrapped by the session."""

    __slots__ = ("ms", "value")

    def __init__(self, value: object, ms: int) -> None:
        self.value = value
        self.ms = ms

    def __repr__(self) -> str:
        return f"ttl({self.value!r}, {self.ms})"


def ttl(value: T, ms: int = 30_000) -> T:
    """Mark ``value`` to expire ``ms`` milliseconds after it is assigned to a session key.

    Assign the result to a top-level session key: ``context.session.user = ttl(user,
    300_000)``. Every later assignment to that key restarts the clock; ``ttl(value, 0)``
    removes the expiry. The result is typed as ``value`` so that assignments type-check,
    but it is a marker that only a session assignment understands.

    Raises ``TypeError`` when ``ms`` is not an ``int``, ``ValueError`` when it is negative.
    """
    if type(ms) is not int:  # bool is an int subclass, and ttl(x, True) is surely a mistake
        raise TypeError(f"ttl ms must be an int (milliseconds), got {type(ms).__name__}: {ms!r}")
    if ms < 0:
        raise ValueError(f"ttl ms must be >= 0 (0 removes the expiry), got {ms}")
    return cast(T, Ttl(value, ms))


def read_meta(raw: object, data: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The usable ``"__ttl"`` entries of a stored record, for keys that ``data`` holds.

    Entries that are malformed (written by hand, or by a buggy bot) are dropped, so the
    key simply stops expiring, rather than a session becoming unreadable.
    """
    meta: dict[str, dict[str, int]] = {}
    if not isinstance(raw, dict):
        return meta
    for key, entry in raw.items():
        if key not in data or not isinstance(entry, dict):
            continue
        t, at = entry.get("t"), entry.get("at")
        if type(t) is int and type(at) is int and t > 0:
            meta[key] = {"t": t, "at": at}
    return meta
