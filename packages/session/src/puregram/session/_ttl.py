"""``ttl()``: mark a session key to expire, and the ``"__ttl"`` metadata it leaves.

The metadata sits in the stored record under ``TTL_KEY`` as ``{key: {"t": ms, "at":
unix_ms}}``: the key expires once ``now - at > t``, as in ``@puregram/session``. The
handler never sees it.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar, cast

from puregram.storage import check_ms

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

    Raises ``TypeError`` when ``ms`` is not an ``int`` (``bool`` and ``float`` included),
    ``ValueError`` when it is negative or above ``MAX_MS`` (10**15, about 31,700 years).
    """
    if isinstance(ms, float):
        # The core checker takes a float without a fraction; a ttl takes an int only, as
        # it always did (``ttl(x, 1.5)`` is surely a mistake, and so is ``ttl(x, True)``,
        # which the checker refuses).
        raise TypeError(
            f"ttl option 'ms' must be a whole number of milliseconds (an int), got float {ms!r}"
        )
    return cast(T, Ttl(value, check_ms("ms", ms, owner="ttl", minimum=0)))


def _number(value: object) -> bool:
    """A finite JSON number: ``int`` or ``float``, not ``bool``."""
    kind = value.__class__
    return kind is int or (kind is float and math.isfinite(value))  # type: ignore[arg-type]


def read_meta(raw: object, data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The usable ``"__ttl"`` entries of a stored record, for keys that ``data`` holds.

    An entry is ``{"t": ms, "at": unix_ms}``: ``t`` a finite number > 0 and ``at`` a
    finite number. Either may have a fraction (a Node.js bot may write ``1500.5``); it is
    honoured and kept as it is. Entries that are malformed (written by hand, or by a
    buggy bot) are dropped, so the key simply stops expiring, rather than a session
    becoming unreadable.
    """
    meta: dict[str, dict[str, float]] = {}
    if not isinstance(raw, dict):
        return meta
    for key, entry in raw.items():
        if key not in data or not isinstance(entry, dict):
            continue
        t, at = entry.get("t"), entry.get("at")
        if _number(t) and _number(at) and t > 0:  # type: ignore[operator]
            meta[key] = {"t": t, "at": at}  # type: ignore[dict-item]
    return meta
